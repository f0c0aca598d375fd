/**
 * The GPU family ("chunked") of scan kernels, shared parts: a selective scan whose parallelism comes
 * from (batch, direction/group, channel, state) and from chunks of the sequence, so that a
 * single image at VM-UNet's stage-1 shape launches hundreds of thousands of invocations.
 *
 * The sequence is split into chunks of `T` positions (`T·N ≤ 256`, at most 16). With the
 * pairs (ā, b̄) = (exp(Δ·A), Δ·u·B), the state after a chunk is `P·h_in + h_loc`, where
 * `h_loc` is the chunk's scan from a zero state and `P = exp(A·ΣΔ)` the chunk's running
 * decay product — one sum of Δ per channel shared by its N states. So:
 *
 * - forward: **local** (one invocation per (batch, channel, chunk): `h_loc` and ΣΔ into the
 *   checkpoint buffer), **carry** (one workgroup per (batch, channel), an invocation per
 *   (lane, state): each lane composes a run of chunks, a Hillis–Steele scan in workgroup
 *   memory combines the lanes, and each chunk's end state replaces its `h_loc` in place),
 *   **apply** (one invocation per (batch, channel, chunk, vec4 of states): the chunk
 *   re-walked from its start state, `C·h` summed over the lanes in workgroup memory, the
 *   D·u skip added; SS2D's four directions are four dispatches that add into the merged
 *   output at natural positions, so the merge stays in the kernel).
 * - backward: the same three steps right to left for the adjoint carry
 *   `r_t = ā_t·(g_t·C_t + r_{t+1})` (**local**, **carry**), then **apply**, which
 *   re-walks a chunk forward from its checkpoint and backward from its carry and writes du
 *   (summed over the directions like the output), dΔ, and per-chunk partials of dA, dD and
 *   d_delta_bias; **dB/dC**: one workgroup per (batch, group, chunk), an invocation per
 *   (position, state), loops over the group's channels and sums their contributions in
 *   registers (one writer per element, no float atomics); **reduce**: one workgroup per
 *   (channel, parameter) sums the partials.
 *
 * Softplus(Δ + bias), exp(ΔA), the D·u skip and the direction index mapping are fused into
 * every pass; nothing is flipped, transposed or copied. Every kernel binds at most 9
 * storage buffers (the inputs, the caller's `state` and one internal workspace).
 *
 * This file: the chunk geometry and buffer layout, the common prelude, the local kernels'
 * frame, the carry kernel (both directions) and the apply kernels' decoding; the forward's
 * kernels are in `_wgsl_chunked_forward.ts`, the backward's in `_wgsl_chunked_backward.ts`.
 *
 * @module
 */

import { ParamLayout } from "@vmunet/wgsl";
import {
  f32Bindings,
  header,
  type KernelDims,
  type KernelLayout,
  type KernelTuning,
  repeat,
  u,
} from "./_wgsl_header.ts";

/** Workgroup size of the flat local and reduce kernels. */
export const FLAT_WG = 64;

/** Chunk length of the GPU family for state size `n`: `T·N ≤ 256`, `T ≤ 16`, a power of two. */
export function chunkedLength(n: number): number {
  let t = 16;
  while (t > 1 && t * n > 256) t /= 2;
  return t;
}

/** Lanes of the carry kernel: a power of two, `lanes·N ≤ 256`, no more than the chunks need. */
export function carryLanes(n: number, chunks: number): number {
  let lanes = 1;
  while (lanes * 2 * n <= 256 && lanes < chunks) lanes *= 2;
  return lanes;
}

/** (channel, chunk) slots per workgroup of the apply kernels (`NV` invocations each). */
export function applySlots(nv: number): number {
  return Math.max(1, Math.floor(64 / nv));
}

/** Layout of the `state` buffer and of the backward workspace, in f32 elements. */
export interface ChunkedLayout {
  /** f32s of the chunk states (`(B, CH, NCH, 4·NV)`): checkpoints, or adjoint carries. */
  states: number;
  /** f32s of the per-chunk Δ sums that follow the states. */
  sums: number;
  /** Workspace offset of the packed parameters `A (CH·N) | D (CH) | bias (CH)`. */
  params: number;
  /** Workspace offset of the partials `(CH, N + 2, B·NCH)`. */
  partials: number;
  /** f32s of the `state` buffer. */
  stateFloats: number;
  /** f32s of the backward workspace. */
  workspaceFloats: number;
}

/** The GPU family's buffer layout. */
export function chunkedLayout(l: KernelLayout, m: KernelDims): ChunkedLayout {
  const rows = l.batch * m.totalChannels * m.chunks;
  const states = rows * m.nv * 4;
  const params = states + rows;
  const partials = params + m.totalChannels * (l.dState + 2);
  return {
    states,
    sums: rows,
    params,
    partials,
    stateFloats: states + rows,
    workspaceFloats: partials + m.totalChannels * (l.dState + 2) * l.batch * m.chunks,
  };
}

/** The GPU family's prelude: the scan header, the workspace offsets and the chunk-slot indexing. */
export function common(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const c = chunkedLayout(l, m);
  return header(l, t, m) + `
const SOFF: u32 = ${u(c.states)};
const PA: u32 = ${u(c.params)};
const PD: u32 = ${u(c.params + m.totalChannels * l.dState)};
const PB: u32 = ${u(c.params + m.totalChannels * (l.dState + 1))};
const PP0: u32 = ${u(c.partials)};
const NBC: u32 = ${u(l.batch * m.chunks)};
// f32 index of the vec4 j of chunk ch's state (or carry) of channel c, and of its Δ sum.
fn stAt(b: u32, c: u32, ch: u32) -> u32 { return ((b * CH + c) * NCH + ch) * NV * 4u; }
fn sumAt(b: u32, c: u32, ch: u32) -> u32 { return SOFF + (b * CH + c) * NCH + ch; }
fn flat64(lid: vec3<u32>, wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (wg.y * nwg.x + wg.x) * ${u(FLAT_WG)} + lid.x;
}
`;
}

/**
 * `vec4` of elements `4j … 4j+3` of a per-state array at `base + n·stride`: plain loads when
 * N is a multiple of 4, else clamped in bounds with the elements past N zero.
 */
export function vecAt(n: number, buf: string, base: string, j: string, stride = "1u"): string {
  const parts = [0, 1, 2, 3].map((e) =>
    n % 4 === 0
      ? `${buf}[${base} + (4u * ${j} + ${u(e)}) * ${stride}]`
      : `select(0.0, ${buf}[${base} + min(4u * ${j} + ${u(e)}, N - 1u) * ${stride}], 4u * ${j} + ${
        u(e)
      } < N)`
  );
  return `vec4<f32>(${parts.join(", ")})`;
}

/** A `vec4` of four consecutive f32s of `buf` from `at`. */
export function load4(buf: string, at: string): string {
  return `vec4<f32>(${buf}[${at}], ${buf}[${at} + 1u], ${buf}[${at} + 2u], ${buf}[${at} + 3u])`;
}

/** Decodes flat `f` over (batch, chunk, channel), channel fastest. */
const DECODE_ROW = `
  let c = f % CH;
  let ch = (f / CH) % NCH;
  let b = f / (CH * NCH);
  let k = c / DI;
  let d = c % DI;
  let t0 = ch * T;`;

/** What distinguishes the forward's and the backward's local kernel. */
export interface LocalPass {
  /** Entry point name. */
  entry: string;
  /** The read-only f32 bindings, in order (`X`, read-write, follows them). */
  read: string[];
  /** Statements every invocation runs before the bounds check. */
  before: string;
  /** Whether the chunk is walked right to left. */
  reverse: boolean;
  /** Statements of one position after `p` and `dlt` (Δ after softplus) are known. */
  load: string;
  /** The update of state vec4 `v{j}` at one position (`a{j}` is A·log2 e). */
  update: (j: number) => string;
}

/**
 * The local kernels' frame: one invocation per (batch, channel, chunk), flat over
 * `FLAT_WG`-wide workgroups, N states as vec4 registers `v{j}` from zero, `ΣΔ` in `s`,
 * walking the chunk's positions in `pass`'s order; the end values go to the chunk's slot of
 * `X` (the `state` buffer or the workspace).
 */
export function localWgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  pass: LocalPass,
): string {
  return common(l, t, m) + f32Bindings(pass.read, ["X"]) + `
@compute @workgroup_size(${FLAT_WG})
fn ${pass.entry}(@builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = flat64(lid, wg, nwg);
${pass.before}
  if (f >= NB * NCH * CH) { return; }
${DECODE_ROW}
${
    repeat(m.nv, (j) =>
      `  let a${j} = ${vecAt(l.dState, "AA", "c * N", `${j}u`)} * LOG2E;
  var v${j} = vec4<f32>(0.0);`)
  }
  let bias = BIAS[c];
  var s = 0.0;
  for (var i = 0u; i < T; i++) {
    let tt = t0 + ${pass.reverse ? "T - 1u - i" : "i"};
    if (tt < L) {
      let p = pos(k, tt);
      let dlt = softplus(DL[iDl(b, k, d, p)] + bias);
${pass.load}
${repeat(m.nv, pass.update)}
      s = s + dlt;
    }
  }
  let o = stAt(b, c, ch);
${repeat(m.nv, (j) => repeat(4, (e) => `  X[o + ${u(4 * j + e)}] = v${j}.${"xyzw"[e]};`))}
  X[sumAt(b, c, ch)] = s;
}
`;
}

/**
 * **Carry** between chunks: one workgroup per (batch, channel) row, one invocation per
 * (lane, state). Lane `q` owns a run of consecutive chunks (in scan order: left to right
 * for the forward, right to left for the backward's `reverse`), composes their
 * (decay, local state) pairs, a Hillis–Steele scan in workgroup memory combines the lanes,
 * and a second walk replaces each chunk's local value in place: by the state at its end
 * (forward, inclusive) or by the carry entering it from the right (backward, exclusive).
 * Bindings: AA (A), X (the `state` buffer or the backward workspace, read-write).
 */
export function carryWgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  reverse: boolean,
): string {
  const lanes = carryLanes(l.dState, m.chunks);
  const wgSize = lanes * l.dState;
  return common(l, t, m) + `${f32Bindings(["AA"], ["X"])}
const LN: u32 = ${u(lanes)};
const CPL: u32 = (NCH + LN - 1u) / LN;
var<workgroup> SP: array<f32, ${wgSize}>;
var<workgroup> SH: array<f32, ${wgSize}>;

fn chunkOf(q: u32) -> u32 { return ${reverse ? "NCH - 1u - q" : "q"}; }

@compute @workgroup_size(${wgSize})
fn carry(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= NB * CH) { return; }
  let n = lid.x % N;
  let lane = lid.x / N;
  let c = row % CH;
  let b = row / CH;
  let a2 = AA[c * N + n] * LOG2E;
  var pr = 1.0;
  var hr = 0.0;
  for (var i = 0u; i < CPL; i++) {
    let q = lane * CPL + i;
    if (q >= NCH) { break; }
    let ch = chunkOf(q);
    let dec = exp2(a2 * X[sumAt(b, c, ch)]);
    hr = dec * hr + X[stAt(b, c, ch) + n];
    pr = dec * pr;
  }
  SP[lid.x] = pr;
  SH[lid.x] = hr;
  workgroupBarrier();
  for (var off = 1u; off < LN; off = off * 2u) {
    var pl = 1.0;
    var hl = 0.0;
    if (lane >= off) {
      pl = SP[lid.x - off * N];
      hl = SH[lid.x - off * N];
    }
    workgroupBarrier();
    if (lane >= off) {
      hr = pr * hl + hr;
      pr = pr * pl;
      SP[lid.x] = pr;
      SH[lid.x] = hr;
    }
    workgroupBarrier();
  }
  var h = 0.0;
  if (lane > 0u) { h = SH[lid.x - N]; }
  for (var i = 0u; i < CPL; i++) {
    let q = lane * CPL + i;
    if (q >= NCH) { break; }
    let ch = chunkOf(q);
    let at = stAt(b, c, ch) + n;
    let incl = exp2(a2 * X[sumAt(b, c, ch)]) * h + X[at];
    X[at] = ${reverse ? "h" : "incl"};
    h = incl;
  }
}
`;
}

/**
 * Decodes the apply kernels' invocation: slot (batch, chunk, direction of this dispatch,
 * channel; channel fastest) and lane `j` (the vec4 of states it owns). Invocations past
 * the last slot compute on the last one and store nothing (they take part in barriers).
 */
function applyDecode(kd: number): string {
  return `
  let j = lid.x % NV;
  let sl = lid.x / NV;
  let s0 = (wg.y * nwg.x + wg.x) * SLOTS + sl;
  let valid = s0 < NSLOT;
  let s = min(s0, NSLOT - 1u);
  let d = s % DI;
  let k = params.direction + (s / DI) % ${u(kd)};
  let ch = (s / (DI * ${u(kd)})) % NCH;
  let b = s / (DI * ${u(kd)} * NCH);
  let c = k * DI + d;
  let t0 = ch * T;`;
}

/**
 * The apply kernels' per-dispatch parameter, bound as a uniform at binding 9: the first
 * direction the dispatch covers (the cross layout's apply passes run one per direction; the
 * generic layout's one dispatch starts at 0).
 */
export const APPLY_PARAMS: ParamLayout = new ParamLayout({ direction: "u32" }, "scan apply");

/** Slots `(batch, chunk, direction, channel)` of one apply dispatch. */
export function applySlotCount(l: KernelLayout, m: KernelDims): number {
  return l.batch * m.chunks * applyGroups(l) * l.channels;
}

/** Directions/groups one apply dispatch covers: 1 for the cross layout (one per direction, adding into the merged output), all for the generic one. */
export function applyGroups(l: KernelLayout): number {
  return l.kind === "cross" ? 1 : l.groups;
}

/**
 * The apply kernels' frame up to their body: the prelude, the slot constants, binding 9 (the
 * direction uniform {@linkcode APPLY_PARAMS}), `bindings`, a workgroup array of `T` floats
 * per invocation for each of `shared`, and the entry point `entry` opened with the decode
 * of its slot and lane.
 */
export function applyHead(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  entry: string,
  bindings: string,
  shared: string[],
): string {
  const slots = applySlots(m.nv);
  const wgSize = slots * m.nv;
  return common(l, t, m) + `
const SLOTS: u32 = ${u(slots)};
const NSLOT: u32 = ${u(applySlotCount(l, m))};
// Cross layout: the direction of this dispatch; the first one writes, the others add.
${APPLY_PARAMS.wgsl({ binding: 9, space: "uniform" })}${bindings}
${shared.map((name) => `var<workgroup> ${name}: array<f32, ${wgSize * t.chunkLength}>;\n`).join("")}
@compute @workgroup_size(${wgSize})
fn ${entry}(@builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
${applyDecode(applyGroups(l))}`;
}

/** The merged-output store: the cross layout's directions after the first add in place. */
export function mergeStore(l: KernelLayout, buf: string, at: string, v: string): string {
  return l.kind === "cross"
    ? `if (k == 0u) { ${buf}[${at}] = ${v}; } else { ${buf}[${at}] = ${buf}[${at}] + ${v}; }`
    : `${buf}[${at}] = ${v};`;
}
