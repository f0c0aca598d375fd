/**
 * WGSL generators of the GPU family ("chunked"): a selective scan whose parallelism comes
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
 * @module
 */

import {
  BINDINGS_IN,
  f32Bindings,
  header,
  type KernelDims,
  type KernelLayout,
  type KernelTuning,
  u,
} from "./_wgsl.ts";

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

function common(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
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
function vecAt(n: number, buf: string, base: string, j: string, stride = "1u"): string {
  const parts = [0, 1, 2, 3].map((e) =>
    n % 4 === 0
      ? `${buf}[${base} + (4u * ${j} + ${u(e)}) * ${stride}]`
      : `select(0.0, ${buf}[${base} + min(4u * ${j} + ${u(e)}, N - 1u) * ${stride}], 4u * ${j} + ${
        u(e)
      } < N)`
  );
  return `vec4<f32>(${parts.join(", ")})`;
}

function load4(buf: string, at: string): string {
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

/**
 * The local kernels' frame: one invocation per (batch, channel, chunk), flat over
 * `FLAT_WG`-wide workgroups, N states as vec4 registers `v{j}` from zero, `ΣΔ` in `s`; the
 * end values go to the chunk's slot of `X` (the `state` buffer or the workspace).
 */
function localWgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  entry: string,
  bindings: string,
  before: string,
  walk: string,
): string {
  const nv = m.nv;
  const js = Array.from({ length: nv }, (_, j) => j);
  return common(l, t, m) + bindings + `
@compute @workgroup_size(${FLAT_WG})
fn ${entry}(@builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = flat64(lid, wg, nwg);
${before}
  if (f >= NB * NCH * CH) { return; }
${DECODE_ROW}
${
    js.map((j) =>
      `  let a${j} = ${vecAt(l.dState, "AA", "c * N", `${j}u`)} * LOG2E;
  var v${j} = vec4<f32>(0.0);`
    ).join("\n")
  }
  let bias = BIAS[c];
  var s = 0.0;
${walk}
  let o = stAt(b, c, ch);
${
    js.map((j) =>
      [0, 1, 2, 3].map((e) => `  X[o + ${u(4 * j + e)}] = v${j}.${"xyzw"[e]};`).join("\n")
    ).join("\n")
  }
  X[sumAt(b, c, ch)] = s;
}
`;
}

/**
 * Forward **local**: scans each chunk from a zero state and stores the end state and ΣΔ
 * into `state`. Bindings: U, DL, AA, BB, BIAS, X (`state`, read-write).
 */
export function localForwardWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const js = Array.from({ length: m.nv }, (_, j) => j);
  return localWgsl(
    l,
    t,
    m,
    "local_forward",
    f32Bindings(["U", "DL", "AA", "BB", "BIAS"], ["X"]),
    "",
    `  for (var i = 0u; i < T; i++) {
    let tt = t0 + i;
    if (tt >= L) { break; }
    let p = pos(k, tt);
    let dlt = softplus(DL[iDl(b, k, d, p)] + bias);
    let du = dlt * U[iU(b, k, d, p)];
    let ib = iB(b, k, p);
${
      js.map((j) =>
        `    v${j} = exp2(dlt * a${j}) * v${j} + du * ${
          vecAt(l.dState, "BB", "ib", `${j}u`, "NSB")
        };`
      ).join("\n")
    }
    s = s + dlt;
  }`,
  );
}

/**
 * Backward **local**: runs the adjoint recurrence `dh = g·C + r`, `r = ā·dh` over each
 * chunk right to left from a zero carry and stores the carry leaving its first position and
 * ΣΔ into the workspace. Invocations below `CH·N` also copy A, D, delta_bias into the
 * workspace's packed parameters (so that the later kernels bind one buffer for them).
 * Bindings: DL, AA, CC, DD, BIAS, DOUT, X (the workspace, read-write).
 */
export function localBackwardWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const js = Array.from({ length: m.nv }, (_, j) => j);
  return localWgsl(
    l,
    t,
    m,
    "local_backward",
    f32Bindings(["DL", "AA", "CC", "DD", "BIAS", "DOUT"], ["X"]),
    `  if (f < CH * N) { X[PA + f] = AA[f]; }
  if (f < CH) { X[PD + f] = DD[f]; X[PB + f] = BIAS[f]; }`,
    `  for (var ii = 0u; ii < T; ii++) {
    let tt = t0 + T - 1u - ii;
    if (tt < L) {
      let p = pos(k, tt);
      let dlt = softplus(DL[iDl(b, k, d, p)] + bias);
      let g = DOUT[iU(b, k, d, p)];
      let ic = iC(b, k, p);
${
      js.map((j) =>
        `      v${j} = exp2(dlt * a${j}) * (g * ${
          vecAt(l.dState, "CC", "ic", `${j}u`, "NSC")
        } + v${j});`
      ).join("\n")
    }
      s = s + dlt;
    }
  }`,
  );
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
  let k = KD0.x + (s / DI) % ${u(kd)};
  let ch = (s / (DI * ${u(kd)})) % NCH;
  let b = s / (DI * ${u(kd)} * NCH);
  let c = k * DI + d;
  let t0 = ch * T;`;
}

/** Slots `(batch, chunk, direction, channel)` of one apply dispatch. */
export function applySlotCount(l: KernelLayout, m: KernelDims): number {
  return l.batch * m.chunks * applyGroups(l) * l.channels;
}

/** Directions/groups one apply dispatch covers: 1 for the cross layout (one per direction, adding into the merged output), all for the generic one. */
export function applyGroups(l: KernelLayout): number {
  return l.kind === "cross" ? 1 : l.groups;
}

function applyConsts(l: KernelLayout, m: KernelDims): string {
  const slots = applySlots(m.nv);
  return `
const SLOTS: u32 = ${u(slots)};
const NSLOT: u32 = ${u(applySlotCount(l, m))};
// Cross layout: the direction of this dispatch; the first one writes, the others add.
@group(0) @binding(9) var<uniform> KD0: vec4<u32>;
`;
}

/** The merged-output store: the cross layout's directions after the first add in place. */
function mergeStore(l: KernelLayout, buf: string, at: string, v: string): string {
  return l.kind === "cross"
    ? `if (k == 0u) { ${buf}[${at}] = ${v}; } else { ${buf}[${at}] = ${buf}[${at}] + ${v}; }`
    : `${buf}[${at}] = ${v};`;
}

/**
 * Forward **apply**: one invocation per (batch, chunk, channel, vec4 of states) re-walks the
 * chunk from its start state (the previous chunk's checkpoint), sums `C·h` over the lanes in
 * workgroup memory and stores `y = D·u + Σ C·h`. Bindings: U, DL, AA, BB, CC, DD, BIAS,
 * OUT (read-write), ST; binding 9: the direction uniform.
 */
export function applyForwardWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const wgSize = applySlots(m.nv) * m.nv;
  return common(l, t, m) + applyConsts(l, m) + BINDINGS_IN + `
@group(0) @binding(7) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(8) var<storage, read> ST: array<f32>;

var<workgroup> YS: array<f32, ${wgSize * t.chunkLength}>;

@compute @workgroup_size(${wgSize})
fn apply_forward(@builtin(local_invocation_id) lid: vec3<u32>,
                 @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
${applyDecode(applyGroups(l))}
  let a2 = ${vecAt(l.dState, "AA", "c * N", "j")} * LOG2E;
  var h = vec4<f32>(0.0);
  if (ch > 0u) { h = ${load4("ST", "stAt(b, c, ch - 1u) + 4u * j")}; }
  let bias = BIAS[c];
  for (var i = 0u; i < T; i++) {
    let tt = t0 + i;
    let p = pos(k, min(tt, L - 1u));
    let dlt = select(0.0, softplus(DL[iDl(b, k, d, p)] + bias), tt < L);
    let du = dlt * U[iU(b, k, d, p)];
    h = exp2(dlt * a2) * h + du * ${vecAt(l.dState, "BB", "iB(b, k, p)", "j", "NSB")};
    YS[lid.x * T + i] = dot(h, ${vecAt(l.dState, "CC", "iC(b, k, p)", "j", "NSC")});
  }
  workgroupBarrier();
  let dc = DD[c];
  for (var i = j; i < T; i = i + NV) {
    let tt = t0 + i;
    if (valid && tt < L) {
      let p = pos(k, tt);
      let io = iU(b, k, d, p);
      var y = dc * U[io];
      for (var q = 0u; q < NV; q++) { y = y + YS[(sl * NV + q) * T + i]; }
      ${mergeStore(l, "OUT", "io", "y")}
    }
  }
}
`;
}

/**
 * Backward **apply**: one invocation per (batch, chunk, channel, vec4 of states) re-walks the
 * chunk forward from its checkpoint (keeping the previous states), then backward from the
 * carry entering it from the right; the lanes' Σ_n parts of du and dΔ are summed in
 * workgroup memory, du is added over the directions like the forward's output, and the
 * chunk's partial sums of dA (per lane), dD and d_delta_bias go to the workspace.
 * Bindings: U, DL, BB, CC, DOUT, ST, WS (read-write: parameters, carries, partials), DU,
 * DDL; binding 9: the direction uniform.
 */
export function applyBackwardWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const wgSize = applySlots(m.nv) * m.nv;
  const T = t.chunkLength;
  return common(l, t, m) + applyConsts(l, m) +
    `${f32Bindings(["U", "DL", "BB", "CC", "DOUT", "ST"], ["WS", "DU", "DDL"])}
var<workgroup> XS: array<f32, ${wgSize * T}>;
var<workgroup> YS: array<f32, ${wgSize * T}>;

@compute @workgroup_size(${wgSize})
fn apply_backward(@builtin(local_invocation_id) lid: vec3<u32>,
                  @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
${applyDecode(applyGroups(l))}
  let a = ${vecAt(l.dState, "WS", "PA + c * N", "j")};
  let a2 = a * LOG2E;
  let bias = WS[PB + c];
  let dc = WS[PD + c];
  var h = vec4<f32>(0.0);
  if (ch > 0u) { h = ${load4("ST", "stAt(b, c, ch - 1u) + 4u * j")}; }
  var hp: array<vec4<f32>, ${T}>;
  var dl: array<f32, ${T}>;
  for (var i = 0u; i < T; i++) {
    let tt = t0 + i;
    let p = pos(k, min(tt, L - 1u));
    let dlt = select(0.0, softplus(DL[iDl(b, k, d, p)] + bias), tt < L);
    dl[i] = dlt;
    hp[i] = h;
    h = exp2(dlt * a2) * h + (dlt * U[iU(b, k, d, p)]) * ${
      vecAt(l.dState, "BB", "iB(b, k, p)", "j", "NSB")
    };
  }
  var r = ${load4("WS", "stAt(b, c, ch) + 4u * j")};
  var gA = vec4<f32>(0.0);
  for (var ii = 0u; ii < T; ii++) {
    let i = T - 1u - ii;
    let tt = t0 + i;
    let p = pos(k, min(tt, L - 1u));
    let dlt = dl[i];
    let uu = U[iU(b, k, d, p)];
    let g = select(0.0, DOUT[iU(b, k, d, p)], tt < L);
    let bv = ${vecAt(l.dState, "BB", "iB(b, k, p)", "j", "NSB")};
    let ab = exp2(dlt * a2);
    let ahp = ab * hp[i];
    let dh = g * ${vecAt(l.dState, "CC", "iC(b, k, p)", "j", "NSC")} + r;
    XS[lid.x * T + i] = dot(dh, bv) * dlt;
    YS[lid.x * T + i] = dot(dh, bv * uu + a * ahp);
    gA = gA + dh * ahp * dlt;
    r = dh * ab;
  }
  workgroupBarrier();
  var gD = 0.0;
  var gBias = 0.0;
  for (var i = j; i < T; i = i + NV) {
    let tt = t0 + i;
    if (tt < L) {
      let p = pos(k, tt);
      let z = DL[iDl(b, k, d, p)] + bias;
      let sig = select(1.0 / (1.0 + exp(-z)), 1.0, z > 20.0);
      var dus = 0.0;
      var dds = 0.0;
      for (var q = 0u; q < NV; q++) {
        dus = dus + XS[(sl * NV + q) * T + i];
        dds = dds + YS[(sl * NV + q) * T + i];
      }
      let dz = dds * sig;
      let io = iU(b, k, d, p);
      let g = DOUT[io];
      gD = gD + g * U[io];
      gBias = gBias + dz;
      if (valid) {
        DDL[iDl(b, k, d, p)] = dz;
        let duv = dc * g + dus;
        ${mergeStore(l, "DU", "io", "duv")}
      }
    }
  }
  workgroupBarrier();
  XS[lid.x] = gD;
  YS[lid.x] = gBias;
  workgroupBarrier();
  if (valid) {
    let pi = b * NCH + ch;
    for (var e = 0u; e < 4u; e++) {
      let n = 4u * j + e;
      if (n < N) { WS[PP0 + (c * (N + 2u) + n) * NBC + pi] = gA[e]; }
    }
    if (j == 0u) {
      var sd = 0.0;
      var sb = 0.0;
      for (var q = 0u; q < NV; q++) {
        sd = sd + XS[sl * NV + q];
        sb = sb + YS[sl * NV + q];
      }
      WS[PP0 + (c * (N + 2u) + N) * NBC + pi] = sd;
      WS[PP0 + (c * (N + 2u) + N + 1u) * NBC + pi] = sb;
    }
  }
}
`;
}

/**
 * Backward **dB/dC**: one workgroup per (batch, group, chunk), one invocation per (position,
 * state). For each channel of the group in turn, every invocation computes its own ā and
 * b̄ and g·C into workgroup memory, then walks the chunk from the checkpoint to its position
 * (state h) and from the carry back to it (adjoint dh), and adds `dh·Δ·u` and `g·h` to its
 * dB and dC in registers; each element of dB/dC has one writer. Bindings: U, DL, BB, CC,
 * DOUT, ST, WS (read), DBo, DCo.
 */
export function bcWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const T = t.chunkLength;
  const wgSize = T * l.dState;
  return common(l, t, m) +
    `${f32Bindings(["U", "DL", "BB", "CC", "DOUT", "ST", "WS"], ["DBo", "DCo"])}
var<workgroup> SAB: array<f32, ${wgSize}>;
var<workgroup> SBB: array<f32, ${wgSize}>;
var<workgroup> SGC: array<f32, ${wgSize}>;

@compute @workgroup_size(${wgSize})
fn backward_bc(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = wg.y * nwg.x + wg.x;
  if (w >= NB * KALL * NCH) { return; }
  let ch = w % NCH;
  let k = (w / NCH) % KALL;
  let b = w / (NCH * KALL);
  let n = lid.x % N;
  let i = lid.x / N;
  let tt = ch * T + i;
  let inb = tt < L;
  let p = pos(k, min(tt, L - 1u));
  let bv = BB[iB(b, k, p) + n * NSB];
  let cv = CC[iC(b, k, p) + n * NSC];
  var sB = 0.0;
  var sC = 0.0;
  for (var d = 0u; d < DI; d++) {
    let c = k * DI + d;
    let dlt = select(0.0, softplus(DL[iDl(b, k, d, p)] + WS[PB + c]), inb);
    let du = dlt * U[iU(b, k, d, p)];
    let g = select(0.0, DOUT[iU(b, k, d, p)], inb);
    SAB[lid.x] = exp2(dlt * WS[PA + c * N + n] * LOG2E);
    SBB[lid.x] = du * bv;
    SGC[lid.x] = g * cv;
    workgroupBarrier();
    var h = 0.0;
    if (ch > 0u) { h = ST[stAt(b, c, ch - 1u) + n]; }
    for (var q = 0u; q <= i; q++) { h = SAB[q * N + n] * h + SBB[q * N + n]; }
    var r = WS[stAt(b, c, ch) + n];
    var dh = 0.0;
    for (var q = T; q > i; q--) {
      dh = SGC[(q - 1u) * N + n] + r;
      r = SAB[(q - 1u) * N + n] * dh;
    }
    sB = sB + dh * du;
    sC = sC + g * h;
    workgroupBarrier();
  }
  if (inb) {
    DBo[oB(b, k, p) + n * ONS] = sB;
    DCo[oC(b, k, p) + n * ONS] = sC;
  }
}
`;
}

/**
 * **Reduce**: one workgroup of 64 per (channel, parameter slot) sums that slot's per-(batch,
 * chunk) partials with a tree in workgroup memory and writes dA, dD or d_delta_bias.
 * Bindings: WS (read), DA, DDo, DBIAS.
 */
export function reduceChunkedWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  return common(l, t, m) + `${f32Bindings(["WS"], ["DA", "DDo", "DBIAS"])}
var<workgroup> R: array<f32, ${FLAT_WG}>;

@compute @workgroup_size(${FLAT_WG})
fn reduce(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = wg.y * nwg.x + wg.x;
  if (o >= CH * (N + 2u)) { return; }
  var acc = 0.0;
  for (var i = lid.x; i < NBC; i = i + ${u(FLAT_WG)}) { acc = acc + WS[PP0 + o * NBC + i]; }
  R[lid.x] = acc;
  workgroupBarrier();
  for (var off = ${u(FLAT_WG / 2)}; off > 0u; off = off / 2u) {
    if (lid.x < off) { R[lid.x] = R[lid.x] + R[lid.x + off]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let j = o % (N + 2u);
    let c = o / (N + 2u);
    if (j < N) { DA[c * N + j] = R[0]; } else if (j == N) { DDo[c] = R[0]; } else { DBIAS[c] = R[0]; }
  }
}
`;
}
