/**
 * WGSL generators of the scan kernels. The layout (generic mamba `(B, G·D, L)` or SS2D's
 * channels-last cross-scan) is expressed as index functions baked into the source, so the
 * same kernel bodies serve both without copies.
 *
 * Design (measured on lavapipe, where every non-uniform buffer access costs a per-lane
 * loop and cross-lane reductions are as dear): the per-row work walks L serially with the
 * N states in vec4 registers; B/C, shared by all channels of a group, are loaded once per
 * subgroup and broadcast when subgroups are available; chunk loops of the backward are
 * unrolled so per-position values stay in registers; and the cross-channel sums dB/dC are
 * computed by a second backward kernel whose invocations own a chunk of positions and loop
 * over the channels, so no cross-invocation reduction (and no float atomic) is needed.
 *
 * @module
 */

/** Everything the generated WGSL needs to know about shapes and layout (all baked in). */
export interface KernelLayout {
  /** `generic`: mamba layout; `cross`: SS2D channels-last four-direction layout. */
  kind: "generic" | "cross";
  /** Batch size. */
  batch: number;
  /** Sequence length L (H·W for cross). */
  length: number;
  /** Channels per group / per direction. */
  channels: number;
  /** State size N. */
  dState: number;
  /** Number of groups (generic G, cross 4). */
  groups: number;
  /** Cross only: height. */
  height: number;
  /** Cross only: width. */
  width: number;
  /** Element offset of B (cross). */
  bOffset: number;
  /** Stride of B between consecutive (position, direction) records (cross). */
  bStride: number;
  /** Element offset of C (cross). */
  cOffset: number;
  /** Stride of C (cross). */
  cStride: number;
  /**
   * Cross only: u, Δ, the output and their gradients are channel-major — `(B, Di, L)` and
   * `(B, 4·Di, L)` — instead of channels-last, so every row is contiguous along positions.
   */
  channelMajor?: boolean;
}

/** Launch parameters chosen per adapter and shape. */
export interface KernelTuning {
  /** Invocations (consecutive channels) per workgroup of the row kernels. */
  workgroupSize: number;
  /** Positions per checkpoint chunk (also the positions one dB/dC invocation owns). */
  chunkLength: number;
  /** Directions/groups handled serially by one invocation (cross: 4, accumulating outputs). */
  serialGroups: number;
  /** Subgroup width guaranteed by the device for broadcasts of B/C; 0 = no subgroup ops. */
  subgroupWidth: number;
  /** Whether WGSL with subgroup ops starts with `enable subgroups;` (default: probed). */
  subgroupsDirective?: boolean;
  /**
   * Forward variant: one invocation per row walking L, or a workgroup scan per row (both of
   * the CPU family, with the row-walking backward), or the GPU family `chunked`.
   */
  forward: "serial-row" | "workgroup-scan" | "chunked";
}

/** Derived constants shared by the generators and the host code. */
export interface KernelDims {
  /** Vec4s of state per channel. */
  nv: number;
  /** Number of checkpoint chunks. */
  chunks: number;
  /** Workgroups along the channels. */
  slices: number;
  /** Total channels (groups·channels). */
  totalChannels: number;
  /** Groups dispatched in parallel. */
  parallelGroups: number;
  /** Floats per packed B/C record of the generic layout. */
  packedStride: number;
}

/** Computes the derived constants. */
export function kernelDims(l: KernelLayout, t: KernelTuning): KernelDims {
  const nv = Math.ceil(l.dState / 4);
  return {
    nv,
    chunks: Math.ceil(l.length / t.chunkLength),
    slices: Math.ceil(l.channels / t.workgroupSize),
    totalChannels: l.groups * l.channels,
    parallelGroups: l.groups / t.serialGroups,
    packedStride: 2 * l.dState,
  };
}

/** A WGSL u32 literal. */
export function u(n: number): string {
  return `${n}u`;
}

/**
 * The WGSL prelude of every scan kernel: shape constants, softplus and the layout's index
 * functions. The one place where the scan kernels' WGSL header is built (a WGSL
 * `enable` directive would go here).
 */
export function header(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const common = `
const NB: u32 = ${u(l.batch)};
const L: u32 = ${u(l.length)};
const DI: u32 = ${u(l.channels)};
const N: u32 = ${u(l.dState)};
const NV: u32 = ${u(m.nv)};
const KALL: u32 = ${u(l.groups)};
const CH: u32 = ${u(m.totalChannels)};
const KSER: u32 = ${u(t.serialGroups)};
const T: u32 = ${u(t.chunkLength)};
const NCH: u32 = ${u(m.chunks)};
const WG: u32 = ${u(t.workgroupSize)};
const LOG2E: f32 = 1.4426950408889634;
// softplus as CUDA (identity above 20); log1p(e) computed as log(w)·e/(w−1) (w = 1+e), which
// keeps full relative precision for tiny e where log(1+e) would round to 0.
fn softplus(z: f32) -> f32 {
  let e = exp(min(z, 20.0));
  let w = 1.0 + e;
  let lp = select(log(w) * e / (w - 1.0), e, w == 1.0);
  return select(lp, z, z > 20.0);
}
`;
  if (l.kind === "generic") {
    const P = m.packedStride;
    return common + `
// B and C are read from an internal copy packed as (B, G, L, 2N): the caller's (B, G, N, L)
// rows are L floats apart, so one position's 2N values would hit 2N cache lines (the same
// cache set when L is a multiple of 1024).
const NSB: u32 = 1u;
const NSC: u32 = 1u;
fn pos(k: u32, t: u32) -> u32 { return t; }
fn iU(b: u32, k: u32, d: u32, p: u32) -> u32 { return (b * CH + k * DI + d) * L + p; }
fn iDl(b: u32, k: u32, d: u32, p: u32) -> u32 { return (b * CH + k * DI + d) * L + p; }
fn iB(b: u32, k: u32, p: u32) -> u32 { return ((b * KALL + k) * L + p) * ${u(P)}; }
fn iC(b: u32, k: u32, p: u32) -> u32 { return ((b * KALL + k) * L + p) * ${u(P)} + N; }
const ONS: u32 = L;
fn oB(b: u32, k: u32, p: u32) -> u32 { return (b * KALL + k) * N * L + p; }
fn oC(b: u32, k: u32, p: u32) -> u32 { return (b * KALL + k) * N * L + p; }
`;
  }
  return common + `
const H: u32 = ${u(l.height)};
const W: u32 = ${u(l.width)};
const NSB: u32 = 1u;
const NSC: u32 = 1u;
// Branch-free: k is uniform but not known to the compiler, and branches cost masks on SIMD.
fn pos(k: u32, t: u32) -> u32 {
  let s = select(t, L - 1u - t, k >= 2u);
  return select(s, (s % H) * W + s / H, (k & 1u) == 1u);
}
${
    l.channelMajor
      ? `fn iU(b: u32, k: u32, d: u32, p: u32) -> u32 { return (b * DI + d) * L + p; }
fn iDl(b: u32, k: u32, d: u32, p: u32) -> u32 { return ((b * 4u + k) * DI + d) * L + p; }`
      : `fn iU(b: u32, k: u32, d: u32, p: u32) -> u32 { return (b * L + p) * DI + d; }
fn iDl(b: u32, k: u32, d: u32, p: u32) -> u32 { return ((b * L + p) * 4u + k) * DI + d; }`
  }
fn iB(b: u32, k: u32, p: u32) -> u32 { return ${u(l.bOffset)} + ((b * L + p) * 4u + k) * ${
    u(l.bStride)
  }; }
fn iC(b: u32, k: u32, p: u32) -> u32 { return ${u(l.cOffset)} + ((b * L + p) * 4u + k) * ${
    u(l.cStride)
  }; }
const ONS: u32 = 1u;
fn oB(b: u32, k: u32, p: u32) -> u32 { return iB(b, k, p); }
fn oC(b: u32, k: u32, p: u32) -> u32 { return iC(b, k, p); }
`;
}

/** `f(0) … f(count − 1)` joined by newlines. */
export function repeat(count: number, f: (j: number) => string): string {
  return Array.from({ length: count }, (_, j) => f(j)).join("\n");
}

/** A vec4 literal of up to four WGSL expressions, zero-padded. */
export function vec4Of(parts: string[]): string {
  while (parts.length < 4) parts.push("0.0");
  return `vec4<f32>(${parts.join(", ")})`;
}

/**
 * Statements loading B and C of one position as vec4s `${p}b{j}`, `${p}c{j}`. With subgroups,
 * lane `i` of each subgroup loads elements `i, i + SGW, …` (clamped in bounds) and every
 * element is broadcast from the lane that loaded it: N/SGW loads per lane instead of 2N.
 * Requires all lanes of the subgroup to execute it (uniform control flow).
 */
function loadBC(
  N: number,
  nv: number,
  sgw: number,
  bb: string,
  cb: string,
  p: string,
  indent: string,
): string {
  const out: string[] = [];
  for (const [buf, base, name, ns] of [["BB", bb, "b", "NSB"], ["CC", cb, "c", "NSC"]]) {
    if (sgw > 0) {
      const q = Math.ceil(N / sgw);
      for (let i = 0; i < q; i++) {
        out.push(
          `${indent}let ${p}${name}l${i} = ${buf}[${base} + min(sgi % ${u(sgw)} + ${u(i * sgw)}, ${
            u(N - 1)
          }) * ${ns}];`,
        );
      }
      for (let j = 0; j < nv; j++) {
        const parts: string[] = [];
        for (let e = 4 * j; e < Math.min(N, 4 * j + 4); e++) {
          parts.push(`subgroupBroadcast(${p}${name}l${Math.floor(e / sgw)}, ${u(e % sgw)})`);
        }
        out.push(`${indent}let ${p}${name}${j} = ${vec4Of(parts)};`);
      }
    } else {
      for (let j = 0; j < nv; j++) {
        const parts: string[] = [];
        for (let e = 4 * j; e < Math.min(N, 4 * j + 4); e++) {
          parts.push(`${buf}[${base} + ${u(e)} * ${ns}]`);
        }
        out.push(`${indent}let ${p}${name}${j} = ${vec4Of(parts)};`);
      }
    }
  }
  return out.join("\n");
}

function aLoad(j: number, n: number, at = (i: string) => `AA[${i}]`): string {
  const parts: string[] = [];
  for (let e = 4 * j; e < Math.min(n, 4 * j + 4); e++) parts.push(at(`c * N + ${u(e)}`));
  return vec4Of(parts);
}

/**
 * Declarations of `f32` storage arrays bound from binding 0 on: first the read-only
 * `read`, then the `readWrite` ones (each name its buffer's WGSL variable).
 */
export function f32Bindings(read: string[], readWrite: string[] = []): string {
  const line = (name: string, i: number, access: string) =>
    `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<f32>;\n`;
  return "\n" + read.map((n, i) => line(n, i, "read")).join("") +
    readWrite.map((n, i) => line(n, read.length + i, "read_write")).join("");
}

/** Bindings 0–6 of the forward kernels: u, Δ, A, B, C, D, delta_bias. */
export const BINDINGS_IN: string = f32Bindings(["U", "DL", "AA", "BB", "CC", "DD", "BIAS"]);

function sgBuiltin(t: KernelTuning): string {
  return t.subgroupWidth > 0 ? ", @builtin(subgroup_invocation_id) sgi: u32" : "";
}

/**
 * Head of a channel-per-lane entry point `name`: channel `d` (clamped to DI − 1; `valid` when
 * in range), batch `b`, then either the loop over the workgroup's KSER directions `k` (left
 * open, `serial`) or the single direction `k = wg.y`, and the row `c` of A, D and delta_bias.
 */
function channelEntry(t: KernelTuning, name: string, serial: boolean): string {
  const head = `
@compute @workgroup_size(${t.workgroupSize})
fn ${name}(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>${
    sgBuiltin(t)
  }) {
  // No early return: the subgroup and workgroup operations need every lane; lanes past DI
  // compute on a clamped channel and store nothing.
  let valid = wg.x * WG + lid.x < DI;
  let d = min(wg.x * WG + lid.x, DI - 1u);
  let b = wg.z;
`;
  return head + (serial
    ? `  for (var ks = 0u; ks < KSER; ks++) {
    let k = wg.y * KSER + ks;
    let c = k * DI + d;`
    : `  let k = wg.y;
  let c = k * DI + d;`);
}

/**
 * Where the forward reads the dt rows when it projects Δ itself: the dt rows of position p,
 * direction k start at `offset + ((b·L + p)·4 + k)·stride` of the buffer bound as `DL`
 * (x_dbl), and the weight `(4, Di, rank)` is bound as `WDT`.
 */
export interface DtSlot {
  /** dt rank R. */
  rank: number;
  /** Element offset of the first record's dt rows. */
  offset: number;
  /** Elements between consecutive (position, direction) records. */
  stride: number;
}

/**
 * Statements computing `z = Σ_r W[k, d, r]·dt[p, k, r]` (the dt projection, summed in r
 * order) from the dt rows of position `p`: loaded once per subgroup and broadcast when
 * subgroups are available (the rows are the same for every channel).
 */
function projectedDelta(dt: DtSlot, sgw: number, indent: string): string {
  const out = [`${indent}let xb = ${u(dt.offset)} + ((b * L + p) * 4u + k) * ${u(dt.stride)};`];
  const R = dt.rank;
  if (sgw > 0) {
    for (let i = 0; i < Math.ceil(R / sgw); i++) {
      out.push(`${indent}let xl${i} = DL[xb + min(sgi % ${u(sgw)} + ${u(i * sgw)}, ${u(R - 1)})];`);
    }
  }
  out.push(`${indent}var z = 0.0;`);
  for (let r = 0; r < R; r++) {
    const x = sgw > 0
      ? `subgroupBroadcast(xl${Math.floor(r / sgw)}, ${u(r % sgw)})`
      : `DL[xb + ${u(r)}]`;
    out.push(`${indent}z = z + w${r} * ${x};`);
  }
  return out.join("\n");
}

/**
 * Forward kernel. Mapping: one invocation per (batch, channel d); workgroup x = slice of WG
 * consecutive channels of one group, y = parallel group, z = batch. Each invocation walks its
 * row serially over L (looping over `KSER` directions, accumulating the output in place),
 * keeps the N states as vec4 registers, and stores the state at every chunk end (unless
 * `saveState` is false: an inference forward that no backward follows).
 */
export function forwardWgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  saveState = true,
  dt?: DtSlot,
): string {
  // Binding 8 holds either the checkpoints or the dt weight (inference only).
  if (dt && saveState) throw new Error("forwardWgsl: a projected-Δ forward stores no state");
  const N = l.dState;
  const sgw = t.subgroupWidth;
  const store = t.serialGroups > 1
    ? `if (ks == 0u) { OUT[io] = y; } else { OUT[io] = OUT[io] + y; }`
    : `OUT[io] = y;`;
  return header(l, t, m) + BINDINGS_IN + `
@group(0) @binding(7) var<storage, read_write> OUT: array<f32>;
${saveState ? "@group(0) @binding(8) var<storage, read_write> CK: array<vec4<f32>>;" : ""}
${dt ? "@group(0) @binding(8) var<storage, read> WDT: array<f32>;" : ""}
${channelEntry(t, "forward", true)}
${repeat(m.nv, (j) => `    let a${j} = ${aLoad(j, N)} * LOG2E;\n    var h${j} = vec4<f32>(0.0);`)}
    let dc = DD[c];
    let bias = BIAS[c];
${dt ? repeat(dt.rank, (r) => `    let w${r} = WDT[c * ${u(dt.rank)} + ${u(r)}];`) : ""}
    for (var ch = 0u; ch < NCH; ch++) {
      let t0 = ch * T;
      let tl = min(T, L - t0);
      for (var i = 0u; i < tl; i++) {
        let p = pos(k, t0 + i);
${dt ? projectedDelta(dt, sgw, "        ") : "        let z = DL[iDl(b, k, d, p)];"}
        let dlt = softplus(z + bias);
        let io = iU(b, k, d, p);
        let uu = U[io];
        let du = dlt * uu;
${loadBC(N, m.nv, t.subgroupWidth, "iB(b, k, p)", "iC(b, k, p)", "", "        ")}
        var y = dc * uu;
${
    repeat(m.nv, (j) =>
      `        h${j} = exp2(dlt * a${j}) * h${j} + du * b${j};
        y = y + dot(h${j}, c${j});`)
  }
        if (valid) { ${store} }
      }
${
    saveState
      ? `      if (valid) {
        let ck = ((b * CH + c) * NCH + ch) * NV;
${repeat(m.nv, (j) => `        CK[ck + ${u(j)}] = h${j};`)}
      }`
      : ""
  }
    }
  }
}
`;
}

/**
 * Whether {@linkcode forwardVec4Wgsl} serves this layout and tuning: the generic layout
 * (rows contiguous along L), L and the chunk length multiples of 4 (vec4 steps never cross
 * a chunk or a row), and an even N (each position's packed B/C record is whole vec4s).
 */
export function forwardVec4Fits(l: KernelLayout, t: KernelTuning): boolean {
  return l.kind === "generic" && t.serialGroups === 1 && l.length % 4 === 0 &&
    t.chunkLength % 4 === 0 && l.dState % 2 === 0;
}

/**
 * Forward kernel, generic layout, four positions per step: u and Δ are read and the output
 * written as vec4s along the row (one load instruction per four positions: on lavapipe each
 * load or store instruction is a loop over the SIMD lanes, so this divides that cost by
 * about three), and each position's packed B/C record (2N floats = N/2 vec4s) is read as
 * vec4s, one per lane of a subgroup, then broadcast. Same mapping and results as
 * {@linkcode forwardWgsl}; requires {@linkcode forwardVec4Fits}.
 */
export function forwardVec4Wgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  saveState = true,
): string {
  const N = l.dState;
  const nq = N / 2; // vec4s per packed record
  const sgw = t.subgroupWidth;
  const loads = sgw > 0 ? Math.ceil(nq / sgw) : 0;
  // Packed float `f` of the record (B: f < N, C: f ≥ N) as an expression on the vec4s q*.
  const elem = (f: number) => `q${Math.floor(f / 4)}.${"xyzw"[f % 4]}`;
  const record = (s: number) => {
    const out: string[] = [];
    if (sgw > 0) {
      for (let r = 0; r < loads; r++) {
        out.push(
          `        let v${s}_${r} = BC4[rec + min(sgi % ${u(sgw)} + ${u(r * sgw)}, ${u(nq - 1)})];`,
        );
      }
      for (let q = 0; q < nq; q++) {
        out.push(
          `        let q${q} = subgroupBroadcast(v${s}_${Math.floor(q / sgw)}, ${u(q % sgw)});`,
        );
      }
    } else {
      for (let q = 0; q < nq; q++) out.push(`        let q${q} = BC4[rec + ${u(q)}];`);
    }
    for (let j = 0; j < m.nv; j++) {
      const bs: string[] = [], cs: string[] = [];
      for (let e = 4 * j; e < Math.min(4 * j + 4, N); e++) {
        bs.push(elem(e));
        cs.push(elem(N + e));
      }
      out.push(`        let b${j} = ${vec4Of(bs)};`, `        let c${j} = ${vec4Of(cs)};`);
    }
    return out.join("\n");
  };
  const step = (s: number) =>
    `      {
        let p = t0 + i + ${u(s)};
        let rec = ((b * KALL + k) * L + p) * ${u(nq)};
${record(s)}
        let dlt = softplus(z4.${"xyzw"[s]} + bias);
        let uu = u4.${"xyzw"[s]};
        let du = dlt * uu;
        var y = dc * uu;
${
      repeat(m.nv, (j) =>
        `        h${j} = exp2(dlt * a${j}) * h${j} + du * b${j};
        y = y + dot(h${j}, c${j});`)
    }
        y4.${"xyzw"[s]} = y;
      }`;
  return header(l, t, m) + `
@group(0) @binding(0) var<storage, read> U4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> DL4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> AA: array<f32>;
@group(0) @binding(3) var<storage, read> BC4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> DD: array<f32>;
@group(0) @binding(6) var<storage, read> BIAS: array<f32>;
@group(0) @binding(7) var<storage, read_write> OUT4: array<vec4<f32>>;
${saveState ? "@group(0) @binding(8) var<storage, read_write> CK: array<vec4<f32>>;" : ""}
${channelEntry(t, "forward", false)}
  let row4 = (b * CH + c) * (L / 4u);
${repeat(m.nv, (j) => `  let a${j} = ${aLoad(j, N)} * LOG2E;\n  var h${j} = vec4<f32>(0.0);`)}
  let dc = DD[c];
  let bias = BIAS[c];
  for (var ch = 0u; ch < NCH; ch++) {
    let t0 = ch * T;
    let tl = min(T, L - t0);
    // The chunk's u and Δ are loaded before any is used: the rows of a workgroup are far
    // apart in memory, so issuing all the loads together overlaps their cache misses
    // (measured ~10 % faster on lavapipe than loading them four positions at a time).
    let q0 = row4 + t0 / 4u;
    let last = row4 + (t0 + tl) / 4u - 1u;
${
    repeat(t.chunkLength / 4, (g) =>
      `    let zz${g} = DL4[min(q0 + ${u(g)}, last)];
    let uu${g} = U4[min(q0 + ${u(g)}, last)];`)
  }
${
    repeat(t.chunkLength / 4, (g) =>
      `    if (${u(4 * g)} < tl) {
      let i = ${u(4 * g)};
      let q4 = q0 + ${u(g)};
      let z4 = zz${g};
      let u4 = uu${g};
      var y4 = vec4<f32>(0.0);
${repeat(4, step)}
      if (valid) { OUT4[q4] = y4; }
    }`)
  }
${
    saveState
      ? `    if (valid) {
      let ck = ((b * CH + c) * NCH + ch) * NV;
${repeat(m.nv, (j) => `      CK[ck + ${u(j)}] = h${j};`)}
    }`
      : ""
  }
  }
}
`;
}

/**
 * Where the CPU-family backward keeps its internal vec4 workspace `WS`: the adjoint carries
 * `R` (one per chunk, as the checkpoints), the per-(batch, channel) partials of dA, dD and
 * d_delta_bias (`ppw` vec4s each: the N dA values, then `(dD, d_delta_bias, 0, 0)`), and the
 * parameters A, D, delta_bias packed as `(A (CH·N) | D (CH) | bias (CH))` f32s, so that the
 * backward binds 9 storage buffers (WebGPU's default limit is 8, every adapter here has 10).
 */
export interface CpuWorkspace {
  /** vec4 offset of the partials. */
  ppv: number;
  /** vec4s per (batch, channel) partial record. */
  ppw: number;
  /** vec4 offset of the packed parameters. */
  prmv: number;
  /** Total vec4s. */
  vec4s: number;
}

/** The CPU-family backward workspace layout. */
export function cpuWorkspace(l: KernelLayout, m: KernelDims): CpuWorkspace {
  const ppv = l.batch * m.totalChannels * m.chunks * m.nv;
  const ppw = m.nv + 1;
  const prmv = ppv + l.batch * m.totalChannels * ppw;
  return { ppv, ppw, prmv, vec4s: prmv + Math.ceil(m.totalChannels * (l.dState + 2) / 4) };
}

/** Bindings 0–5 of both CPU-family backward kernels, and the packed-parameter accessors. */
function backwardBindings(l: KernelLayout, m: KernelDims, wsAccess: string): string {
  const w = cpuWorkspace(l, m);
  return `
@group(0) @binding(0) var<storage, read> U: array<f32>;
@group(0) @binding(1) var<storage, read> DL: array<f32>;
@group(0) @binding(2) var<storage, read> BB: array<f32>;
@group(0) @binding(3) var<storage, read> CC: array<f32>;
@group(0) @binding(4) var<storage, read> DOUT: array<f32>;
@group(0) @binding(5) var<storage, read> CK: array<vec4<f32>>;
@group(0) @binding(${wsAccess === "read" ? 6 : 8}) var<storage, ${wsAccess}> WS: array<vec4<f32>>;
const PPV: u32 = ${u(w.ppv)};
const PPW: u32 = ${u(w.ppw)};
const PRMV: u32 = ${u(w.prmv)};
fn prm(i: u32) -> f32 { return WS[PRMV + (i >> 2u)][i & 3u]; }
`;
}

/**
 * One step of the backward's forward recomputation at unrolled position `i`: keeps the state
 * before it (`hp`), the decay `ab` and advances `h` by `Δ·u·B` (`du`, `q…b`).
 */
function recomputeStep(i: number, nv: number, indent: string): string {
  return repeat(nv, (j) =>
    `${indent}let hp${i}_${j} = h${j};
${indent}let ab${i}_${j} = exp2(dlt${i} * a2${j});
${indent}h${j} = ab${i}_${j} * h${j} + du${i} * q${i}b${j};`);
}

/** A, D, delta_bias of channel \`c\` read from the packed parameters. */
const PRM_A = (i: string) => `prm(${i})`;

/**
 * Backward over rows. Same mapping as the forward. Chunks are walked last to first; each is
 * recomputed from the saved chunk-start state (unrolled, so the states stay in registers)
 * and then walked in reverse carrying `r = ā·dh`. It writes du (accumulated over the serial
 * directions), ddelta, per-(batch, channel) sums of dA, dD, d_delta_bias, and the adjoint
 * carry entering every chunk (`R`), which the dB/dC kernel starts from.
 */
export function backwardRowsWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const N = l.dState;
  const T = t.chunkLength;
  const storeDu = t.serialGroups > 1
    ? `if (ks == 0u) { DU[iu] = duv; } else { DU[iu] = DU[iu] + duv; }`
    : `DU[iu] = duv;`;
  // Positions past L (tail chunk) run on a clamped position with Δ = 0 (ā = 1, b̄ = 0) and
  // g = 0, so they change nothing; only their stores are masked. This keeps the unrolled
  // body free of branches. Everything the reverse walk needs (Δ, u, sigmoid, B, C, ā and the
  // previous state) is kept from the recompute walk as per-position values.
  const fwd = repeat(T, (i) => `
      let in${i} = t0 + ${u(i)} < L;
      let p${i} = pos(k, min(t0 + ${u(i)}, L - 1u));
      let z${i} = DL[iDl(b, k, d, p${i})] + bias;
      let dlt${i} = select(0.0, softplus(z${i}), in${i});
      let sig${i} = select(1.0 / (1.0 + exp(-z${i})), 1.0, z${i} > 20.0);
      let iu${i} = iU(b, k, d, p${i});
      let uu${i} = U[iu${i}];
      let du${i} = dlt${i} * uu${i};
${loadBC(N, m.nv, t.subgroupWidth, `iB(b, k, p${i})`, `iC(b, k, p${i})`, `q${i}`, "      ")}
${recomputeStep(i, m.nv, "      ")}`);
  const rev = repeat(T, (ii) => {
    const i = T - 1 - ii;
    return `
      {
        let g = select(0.0, DOUT[iu${i}], valid && in${i});
        var dus = 0.0;
        var dds = 0.0;
${
      repeat(m.nv, (j) =>
        `        {
          let ahp = ab${i}_${j} * hp${i}_${j};
          let dh = g * q${i}c${j} + r${j};
          dus = dus + dot(dh, q${i}b${j});
          dds = dds + dot(dh, q${i}b${j} * uu${i} + a${j} * ahp);
          gA${j} = gA${j} + dh * ahp * dlt${i};
          r${j} = dh * ab${i}_${j};
        }`)
    }
        let dz = dds * sig${i};
        gD = gD + g * uu${i};
        gBias = gBias + dz;
        if (valid && in${i}) {
          DDL[iDl(b, k, d, p${i})] = dz;
          let duv = dc * g + dus * dlt${i};
          let iu = iu${i};
          ${storeDu}
        }
      }`;
  });
  return header(l, t, m) + backwardBindings(l, m, "read_write") + `
@group(0) @binding(6) var<storage, read_write> DU: array<f32>;
@group(0) @binding(7) var<storage, read_write> DDL: array<f32>;
${channelEntry(t, "backward", true)}
${
    repeat(m.nv, (j) =>
      `    let a${j} = ${aLoad(j, N, PRM_A)};
    let a2${j} = a${j} * LOG2E;
    var r${j} = vec4<f32>(0.0);
    var gA${j} = vec4<f32>(0.0);`)
  }
    var gD = 0.0;
    var gBias = 0.0;
    let dc = prm(CH * N + c);
    let bias = prm(CH * N + CH + c);
    for (var chi = 0u; chi < NCH; chi++) {
      let ch = NCH - 1u - chi;
      let t0 = ch * T;
      let ck = (b * CH + c) * NCH;
      if (valid) {
${repeat(m.nv, (j) => `        WS[(ck + ch) * NV + ${u(j)}] = r${j};`)}
      }
${repeat(m.nv, (j) => `      var h${j} = vec4<f32>(0.0);`)}
      if (ch > 0u) {
${repeat(m.nv, (j) => `        h${j} = CK[(ck + ch - 1u) * NV + ${u(j)}];`)}
      }
${fwd}
${rev}
    }
    if (valid) {
      let pp = PPV + (b * CH + c) * PPW;
${repeat(m.nv, (j) => `      WS[pp + ${u(j)}] = gA${j};`)}
      WS[pp + NV] = vec4<f32>(gD, gBias, 0.0, 0.0);
    }
  }
}
`;
}

/**
 * dB/dC kernel. Mapping: one invocation per (batch, group, chunk of T positions), flat over a
 * 2D dispatch of `wgSize`-wide workgroups (narrower when there are few chunks, so that every
 * core of a CPU adapter gets workgroups). It caches its chunk's B/C, loops over the group's
 * channels, recomputes states from the saved chunk-start state and adjoints from the carry
 * `R` the row kernel stored, and sums dB/dC over channels in registers; each output element
 * has exactly one writer, so no partial buffers or atomics are needed.
 */
export function backwardBcWgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  wgSize = 64,
): string {
  const N = l.dState;
  const T = t.chunkLength;
  const nv = m.nv;
  const cache = repeat(T, (i) =>
    `  let p${i} = pos(k, min(t0 + ${u(i)}, L - 1u));
${loadBC(N, nv, 0, `iB(b, k, p${i})`, `iC(b, k, p${i})`, `q${i}`, "  ")}
${repeat(nv, (j) => `  var sB${i}_${j} = vec4<f32>(0.0);\n  var sC${i}_${j} = vec4<f32>(0.0);`)}`);
  const fwd = repeat(T, (i) => `
    let dlt${i} = softplus(DL[iDl(b, k, d, p${i})] + bias);
    let du${i} = dlt${i} * U[iU(b, k, d, p${i})];
    let g${i} = select(0.0, DOUT[iU(b, k, d, p${i})], t0 + ${u(i)} < L);
${recomputeStep(i, nv, "    ")}`);
  const rev = repeat(T, (ii) => {
    const i = T - 1 - ii;
    return repeat(nv, (j) =>
      `    {
      let dh = g${i} * q${i}c${j} + r${j};
      sB${i}_${j} = sB${i}_${j} + dh * du${i};
      sC${i}_${j} = sC${i}_${j} + g${i} * (ab${i}_${j} * hp${i}_${j} + du${i} * q${i}b${j});
      r${j} = dh * ab${i}_${j};
    }`);
  });
  const write = repeat(T, (i) => {
    const lines: string[] = [];
    for (let n = 0; n < N; n++) {
      const comp = `${n >> 2}.${"xyzw"[n & 3]}`;
      lines.push(`    DBo[oB(b, k, p${i}) + ${u(n)} * ONS] = sB${i}_${comp};`);
      lines.push(`    DCo[oC(b, k, p${i}) + ${u(n)} * ONS] = sC${i}_${comp};`);
    }
    return `  if (t0 + ${u(i)} < L) {\n${lines.join("\n")}\n  }`;
  });
  return header(l, t, m) + backwardBindings(l, m, "read") + `
@group(0) @binding(7) var<storage, read_write> DBo: array<f32>;
@group(0) @binding(8) var<storage, read_write> DCo: array<f32>;

@compute @workgroup_size(${wgSize})
fn backward_bc(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = (wg.y * nwg.x + wg.x) * ${u(wgSize)} + lid.x;
  if (f >= NB * KALL * NCH) { return; }
  let ch = f % NCH;
  let k = (f / NCH) % KALL;
  let b = f / (NCH * KALL);
  let t0 = ch * T;
${cache}
  for (var d = 0u; d < DI; d++) {
    let c = k * DI + d;
${repeat(nv, (j) => `    let a2${j} = ${aLoad(j, N, PRM_A)} * LOG2E;`)}
    let bias = prm(CH * N + CH + c);
    let ck = (b * CH + c) * NCH;
${
    repeat(nv, (j) =>
      `    var h${j} = vec4<f32>(0.0);
    if (ch > 0u) { h${j} = CK[(ck + ch - 1u) * NV + ${u(j)}]; }
    var r${j} = WS[(ck + ch) * NV + ${u(j)}];`)
  }
${fwd}
${rev}
  }
${write}
}
`;
}

/** Flat invocation index over a 2D dispatch of 256-wide workgroups. */
const FLAT = `
fn flat(lid: vec3<u32>, wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}
`;

/** Head of a flat 256-wide entry point `name`: `f` is the invocation's flat index. */
function flatEntry(name: string): string {
  return `
@compute @workgroup_size(256)
fn ${name}(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = flat(lid, wg, nwg);`;
}

/**
 * dA, dD, d_delta_bias: one invocation per (channel, slot) sums the per-batch partials of
 * the CPU-family workspace (binding 0, read as f32s).
 */
export function reduceParamsWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const w = cpuWorkspace(l, m);
  return header(l, t, m) + FLAT + f32Bindings(["PP"], ["DA", "DDo", "DBIAS"]) + `
const PPV: u32 = ${u(w.ppv)};
const PPW: u32 = ${u(w.ppw)};` + flatEntry("reduce") + `
  if (f >= CH * (N + 2u)) { return; }
  let j = f % (N + 2u);
  let c = f / (N + 2u);
  var acc = 0.0;
  // dA_n at component n of the record, dD and d_delta_bias right after the NV dA vec4s.
  let off = select(j, 4u * NV + j - N, j >= N);
  for (var b = 0u; b < NB; b++) { acc = acc + PP[(PPV + (b * CH + c) * PPW) * 4u + off]; }
  if (j < N) { DA[c * N + j] = acc; } else if (j == N) { DDo[c] = acc; } else { DBIAS[c] = acc; }
}
`;
}

/**
 * CPU family: copies A, D and delta_bias into the packed parameters of the backward
 * workspace (binding 3, f32s from vec4 \`PRMV\`). One invocation per element.
 */
export function packParamsWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const w = cpuWorkspace(l, m);
  return header(l, t, m) + FLAT + f32Bindings(["AA", "DD", "BIAS"], ["WSF"]) + flatEntry("pack") + `
  let o = ${u(w.prmv * 4)} + f;
  if (f < CH * N) { WSF[o] = AA[f]; } else if (f < CH * N + CH) { WSF[o] = DD[f - CH * N]; }
  else if (f < CH * (N + 2u)) { WSF[o] = BIAS[f - CH * N - CH]; }
}
`;
}

/**
 * Generic layout only: packs the caller's `B, C (B, G, N, L)` into `(B, G, L, 2N)` so that
 * one position's B and C are contiguous. One invocation per output element.
 */
export function packBcWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  return header(l, t, m) + FLAT + f32Bindings(["BB", "CC"], ["BC"]) + flatEntry("pack") + `
  if (f >= NB * KALL * L * 2u * N) { return; }
  let n2 = f % (2u * N);
  let p = (f / (2u * N)) % L;
  let bk = f / (2u * N * L);
  if (n2 < N) { BC[f] = BB[(bk * N + n2) * L + p]; } else { BC[f] = CC[(bk * N + n2 - N) * L + p]; }
}
`;
}

/**
 * Forward, variant "workgroup-scan" (the CUDA structure). Mapping: one workgroup per
 * (batch, channel) row (x = channel within the group, y = parallel group, z = batch); each
 * of its WGB invocations owns IT consecutive positions of a chunk of WGB·IT positions. Per
 * chunk: each invocation composes its items' pairs (ā, b̄) under
 * (a0,b0)∘(a1,b1) = (a1·a0, a1·b0 + b1), a Hillis–Steele scan in workgroup memory combines
 * the invocations' aggregates, the running prefix carries across chunks, and a second walk
 * over the items produces h, the output and the chunk-boundary checkpoints of the backward.
 */
export function forwardScanWgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  wgb: number,
  items: number,
): string {
  const N = l.dState;
  const nv = m.nv;
  const store = t.serialGroups > 1
    ? `if (ks == 0u) { OUT[io] = y; } else { OUT[io] = OUT[io] + y; }`
    : `OUT[io] = y;`;
  const steps: number[] = [];
  for (let off = 1; off < wgb; off *= 2) steps.push(off);
  const walk1 = repeat(items, (it) => `
      let t${it} = base + ${u(it)};
      let in${it} = t${it} < L;
      let p${it} = pos(k, min(t${it}, L - 1u));
      let dlt${it} = select(0.0, softplus(DL[iDl(b, k, d, p${it})] + bias), in${it});
      let uu${it} = U[iU(b, k, d, p${it})];
      let du${it} = dlt${it} * uu${it};
${loadBC(N, nv, 0, `iB(b, k, p${it})`, `iC(b, k, p${it})`, `q${it}`, "      ")}
${
    repeat(nv, (j) =>
      `      let ab${it}_${j} = exp2(dlt${it} * a2${j});
      pa${j} = ab${it}_${j} * pa${j};
      ph${j} = ab${it}_${j} * ph${j} + du${it} * q${it}b${j};`)
  }`);
  const walk2 = repeat(items, (it) => `
      {
${repeat(nv, (j) => `        h${j} = ab${it}_${j} * h${j} + du${it} * q${it}b${j};`)}
        var y = dc * uu${it};
${repeat(nv, (j) => `        y = y + dot(h${j}, q${it}c${j});`)}
        if (in${it}) {
          let io = iU(b, k, d, p${it});
          ${store}
          if ((t${it} + 1u) % T == 0u || t${it} + 1u == L) {
            let ck = ((b * CH + c) * NCH + t${it} / T) * NV;
${repeat(nv, (j) => `            CK[ck + ${u(j)}] = h${j};`)}
          }
        }
      }`);
  const scan = steps.map((off) => `
      if (lane >= ${u(off)}) {
${
    repeat(nv, (j) =>
      `        ta${j} = SA[(lane - ${u(off)}) * NV + ${u(j)}];\n        th${j} = SH[(lane - ${
        u(off)
      }) * NV + ${u(j)}];`)
  }
      }
      workgroupBarrier();
      if (lane >= ${u(off)}) {
${
    repeat(nv, (j) =>
      `        ph${j} = pa${j} * th${j} + ph${j};
        pa${j} = pa${j} * ta${j};
        SA[lane * NV + ${u(j)}] = pa${j};
        SH[lane * NV + ${u(j)}] = ph${j};`)
  }
      }
      workgroupBarrier();`).join("");
  return header(l, t, m) + BINDINGS_IN + `
@group(0) @binding(7) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(8) var<storage, read_write> CK: array<vec4<f32>>;

const WGB: u32 = ${u(wgb)};
const IT: u32 = ${u(items)};
var<workgroup> SA: array<vec4<f32>, ${wgb * nv}>;
var<workgroup> SH: array<vec4<f32>, ${wgb * nv}>;

@compute @workgroup_size(${wgb})
fn forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let lane = lid.x;
  let d = wg.x;
  let b = wg.z;
  for (var ks = 0u; ks < KSER; ks++) {
    let k = wg.y * KSER + ks;
    let c = k * DI + d;
${repeat(nv, (j) => `    let a2${j} = ${aLoad(j, N)} * LOG2E;\n    var hc${j} = vec4<f32>(0.0);`)}
    let dc = DD[c];
    let bias = BIAS[c];
    let nchunk = (L + WGB * IT - 1u) / (WGB * IT);
    for (var q = 0u; q < nchunk; q++) {
      let base = (q * WGB + lane) * IT;
${
    repeat(nv, (j) =>
      `      var pa${j} = vec4<f32>(1.0);\n      var ph${j} = vec4<f32>(0.0);\n      var ta${j} = vec4<f32>(1.0);\n      var th${j} = vec4<f32>(0.0);`)
  }
${walk1}
${
    repeat(nv, (j) =>
      `      SA[lane * NV + ${u(j)}] = pa${j};\n      SH[lane * NV + ${u(j)}] = ph${j};`)
  }
      workgroupBarrier();${scan}
      // Exclusive prefix of this invocation, applied to the carry from earlier chunks.
${
    repeat(nv, (j) =>
      `      var h${j} = hc${j};
      if (lane > 0u) {
        h${j} = SA[(lane - 1u) * NV + ${u(j)}] * hc${j} + SH[(lane - 1u) * NV + ${u(j)}];
      }`)
  }
${walk2}
${
    repeat(nv, (j) =>
      `      hc${j} = SA[(WGB - 1u) * NV + ${u(j)}] * hc${j} + SH[(WGB - 1u) * NV + ${u(j)}];`)
  }
      workgroupBarrier();
    }
    storageBarrier();
    workgroupBarrier();
  }
}
`;
}

/**
 * Batched transpose `(B, R, C) → (B, C, R)` (the batch is workgroup z). With `R % 4 = 0` and `C % 4 = 0` one
 * invocation moves a 4×4 block with four vec4 loads and four vec4 stores (on lavapipe every
 * load or store is a loop over the SIMD lanes, so blocks cost a quarter of scalar copies);
 * otherwise one element per invocation. Dispatch: x·y flattened over blocks (64 per
 * workgroup), z = batch.
 */
export function transposeWgsl(rows: number, cols: number): string {
  const vec = rows % 4 === 0 && cols % 4 === 0;
  const br = vec ? rows / 4 : rows, bc = vec ? cols / 4 : cols;
  const flat = `let f = (wg.y * nwg.x + wg.x) * 64u + lid.x;
  if (f >= ${u(br * bc)}) { return; }
  let r = f / ${u(bc)};
  let c = f % ${u(bc)};`;
  if (!vec) {
    return `
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(64)
fn transpose(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flat}
  let b = wg.z;
  Y[(b * ${u(cols)} + c) * ${u(rows)} + r] = X[(b * ${u(rows)} + r) * ${u(cols)} + c];
}
`;
  }
  return `
@group(0) @binding(0) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> Y: array<vec4<f32>>;
@compute @workgroup_size(64)
fn transpose(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
  ${flat}
  let b = wg.z;
  // Block (r, c): input rows 4r..4r+3, vec4 column c; output rows 4c..4c+3, vec4 column r.
  let i = (b * ${u(rows)} + 4u * r) * ${u(bc)} + c;
  let x0 = X[i]; let x1 = X[i + ${u(bc)}]; let x2 = X[i + ${u(2 * bc)}]; let x3 = X[i + ${
    u(3 * bc)
  }];
  let o = (b * ${u(cols)} + 4u * c) * ${u(br)} + r;
  Y[o] = vec4<f32>(x0.x, x1.x, x2.x, x3.x);
  Y[o + ${u(br)}] = vec4<f32>(x0.y, x1.y, x2.y, x3.y);
  Y[o + ${u(2 * br)}] = vec4<f32>(x0.z, x1.z, x2.z, x3.z);
  Y[o + ${u(3 * br)}] = vec4<f32>(x0.w, x1.w, x2.w, x3.w);
}
`;
}
