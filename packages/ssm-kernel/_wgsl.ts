/**
 * WGSL generators of the scan kernels. One generator per kernel; the layout (generic mamba
 * `(B, G·D, L)` or SS2D's channels-last cross-scan) is expressed as index functions baked
 * into the source, so the same kernel bodies serve both without copies.
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
  /** Element offset and stride (per position/direction) of B. */
  bOffset: number;
  /** Stride of B between consecutive (position, direction) records (cross). */
  bStride: number;
  /** Element offset of C. */
  cOffset: number;
  /** Stride of C (cross). */
  cStride: number;
}

/** Launch parameters chosen per adapter and shape. */
export interface KernelTuning {
  /** Invocations per workgroup (consecutive channels of one group). */
  workgroupSize: number;
  /** Positions per checkpoint chunk. */
  chunkLength: number;
  /** Directions/groups handled serially by one invocation (cross: 4, accumulating outputs). */
  serialGroups: number;
}

/** Derived constants shared by the generators and the host code. */
export interface KernelDims {
  /** Vec4s of state per channel. */
  nv: number;
  /** Number of checkpoint chunks. */
  chunks: number;
  /** Workgroup slices per group (partial-sum count of dB/dC). */
  slices: number;
  /** Positions staged per reduction block in the backward. */
  stageBlock: number;
  /** Total channels (groups·channels). */
  totalChannels: number;
  /** Groups dispatched in parallel. */
  parallelGroups: number;
}

/** Computes the derived constants. */
export function kernelDims(l: KernelLayout, t: KernelTuning): KernelDims {
  const nv = Math.ceil(l.dState / 4);
  const chunks = Math.ceil(l.length / t.chunkLength);
  const slices = Math.ceil(l.channels / t.workgroupSize);
  const stageBlock = Math.max(
    1,
    Math.min(t.chunkLength, Math.floor(4096 / (t.workgroupSize * 2 * l.dState))),
  );
  return {
    nv,
    chunks,
    slices,
    stageBlock,
    totalChannels: l.groups * l.channels,
    parallelGroups: l.groups / t.serialGroups,
  };
}

function u(n: number): string {
  return `${n}u`;
}

function header(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const generic = l.kind === "generic";
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
const S: u32 = ${u(m.slices)};
const SB: u32 = ${u(m.stageBlock)};
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
  if (generic) {
    return common + `
const NSB: u32 = L;
const NSC: u32 = L;
fn pos(k: u32, t: u32) -> u32 { return t; }
fn iU(b: u32, k: u32, d: u32, p: u32) -> u32 { return (b * CH + k * DI + d) * L + p; }
fn iDl(b: u32, k: u32, d: u32, p: u32) -> u32 { return (b * CH + k * DI + d) * L + p; }
fn iB(b: u32, k: u32, p: u32) -> u32 { return (b * KALL + k) * N * L + p; }
fn iC(b: u32, k: u32, p: u32) -> u32 { return (b * KALL + k) * N * L + p; }
`;
  }
  return common + `
const H: u32 = ${u(l.height)};
const W: u32 = ${u(l.width)};
const NSB: u32 = 1u;
const NSC: u32 = 1u;
fn pos(k: u32, t: u32) -> u32 {
  var s = t;
  if (k >= 2u) { s = L - 1u - t; }
  if ((k & 1u) == 1u) { return (s % H) * W + s / H; }
  return s;
}
fn iU(b: u32, k: u32, d: u32, p: u32) -> u32 { return (b * L + p) * DI + d; }
fn iDl(b: u32, k: u32, d: u32, p: u32) -> u32 { return ((b * L + p) * 4u + k) * DI + d; }
fn iB(b: u32, k: u32, p: u32) -> u32 { return ${u(l.bOffset)} + ((b * L + p) * 4u + k) * ${
    u(l.bStride)
  }; }
fn iC(b: u32, k: u32, p: u32) -> u32 { return ${u(l.cOffset)} + ((b * L + p) * 4u + k) * ${
    u(l.cStride)
  }; }
`;
}

/** vec4 j of a state-indexed row read from `buf` at `base` with n-stride `ns`. */
function vec(buf: string, base: string, ns: string, j: number, n: number): string {
  const parts: string[] = [];
  for (let q = 0; q < 4; q++) {
    const idx = 4 * j + q;
    parts.push(idx < n ? `${buf}[${base} + ${u(idx)} * ${ns}]` : "0.0");
  }
  return `vec4<f32>(${parts.join(", ")})`;
}

function aLoad(j: number, n: number): string {
  const parts: string[] = [];
  for (let q = 0; q < 4; q++) {
    const idx = 4 * j + q;
    parts.push(idx < n ? `AA[c * N + ${u(idx)}]` : "0.0");
  }
  return `vec4<f32>(${parts.join(", ")})`;
}

function repeat(count: number, f: (j: number) => string): string {
  return Array.from({ length: count }, (_, j) => f(j)).join("\n");
}

/**
 * Forward kernel. Thread-to-data mapping: one invocation per (batch, channel d), workgroup x
 * = slice of WG consecutive channels, y = parallel group, z = batch; each invocation walks its
 * row serially over L (looping over `KSER` groups), keeping the N states as vec4 registers,
 * and stores the state at every chunk end for the backward.
 */
export function forwardWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const N = l.dState;
  const acc = t.serialGroups > 1;
  const store = acc
    ? `if (ks == 0u) { OUT[io] = y; } else { OUT[io] = OUT[io] + y; }`
    : `OUT[io] = y;`;
  return header(l, t, m) + `
@group(0) @binding(0) var<storage, read> U: array<f32>;
@group(0) @binding(1) var<storage, read> DL: array<f32>;
@group(0) @binding(2) var<storage, read> AA: array<f32>;
@group(0) @binding(3) var<storage, read> BB: array<f32>;
@group(0) @binding(4) var<storage, read> CC: array<f32>;
@group(0) @binding(5) var<storage, read> DD: array<f32>;
@group(0) @binding(6) var<storage, read> BIAS: array<f32>;
@group(0) @binding(7) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(8) var<storage, read_write> CK: array<vec4<f32>>;

@compute @workgroup_size(${t.workgroupSize})
fn forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let d = wg.x * WG + lid.x;
  if (d >= DI) { return; }
  let b = wg.z;
  for (var ks = 0u; ks < KSER; ks++) {
    let k = wg.y * KSER + ks;
    let c = k * DI + d;
${repeat(m.nv, (j) => `    let a${j} = ${aLoad(j, N)} * LOG2E;\n    var h${j} = vec4<f32>(0.0);`)}
    let dc = DD[c];
    let bias = BIAS[c];
    for (var ch = 0u; ch < NCH; ch++) {
      let t0 = ch * T;
      let tl = min(T, L - t0);
      for (var i = 0u; i < tl; i++) {
        let p = pos(k, t0 + i);
        let dlt = softplus(DL[iDl(b, k, d, p)] + bias);
        let io = iU(b, k, d, p);
        let uu = U[io];
        let du = dlt * uu;
        let bb = iB(b, k, p);
        let cb = iC(b, k, p);
        var y = dc * uu;
${
    repeat(m.nv, (j) =>
      `        h${j} = exp2(dlt * a${j}) * h${j} + du * ${vec("BB", "bb", "NSB", j, N)};
        y = y + dot(h${j}, ${vec("CC", "cb", "NSC", j, N)});`)
  }
        ${store}
      }
      let ck = ((b * CH + c) * NCH + ch) * NV;
${repeat(m.nv, (j) => `      CK[ck + ${u(j)}] = h${j};`)}
    }
  }
}
`;
}

/**
 * Backward kernel. Same mapping as the forward. Per chunk (last to first) it recomputes the
 * states from the saved chunk-start state into a private array, then walks the chunk in
 * reverse carrying the adjoint `ā·dh`. Per-channel sums (dA, dD, d_delta_bias) stay in
 * registers and go to a per-batch partial buffer; the cross-channel sums dB/dC are staged
 * in workgroup memory for `SB` positions, summed over the workgroup's channels, and written
 * as one partial per workgroup slice (no float atomics).
 */
export function backwardWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const N = l.dState;
  const acc = t.serialGroups > 1;
  const storeDu = acc
    ? `if (ks == 0u) { DU[iu] = duv; } else { DU[iu] = DU[iu] + duv; }`
    : `DU[iu] = duv;`;
  const stage: string[] = [];
  for (let n = 0; n < N; n++) {
    const j = n >> 2;
    const q = "xyzw"[n & 3];
    stage.push(`        SH[sb + ${u(n)}] = sB${j}.${q};`);
    stage.push(`        SH[sb + ${u(N + n)}] = sC${j}.${q};`);
  }
  return header(l, t, m) + `
@group(0) @binding(0) var<storage, read> U: array<f32>;
@group(0) @binding(1) var<storage, read> DL: array<f32>;
@group(0) @binding(2) var<storage, read> AA: array<f32>;
@group(0) @binding(3) var<storage, read> BB: array<f32>;
@group(0) @binding(4) var<storage, read> CC: array<f32>;
@group(0) @binding(5) var<storage, read> DD: array<f32>;
@group(0) @binding(6) var<storage, read> BIAS: array<f32>;
@group(0) @binding(7) var<storage, read> DOUT: array<f32>;
@group(0) @binding(8) var<storage, read> CK: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> DU: array<f32>;
@group(0) @binding(10) var<storage, read_write> DDL: array<f32>;
@group(0) @binding(11) var<storage, read_write> PBC: array<f32>;
@group(0) @binding(12) var<storage, read_write> PP: array<f32>;

const E2: u32 = SB * 2u * N;
var<workgroup> SH: array<f32, ${t.workgroupSize * m.stageBlock * 2 * N}>;

@compute @workgroup_size(${t.workgroupSize})
fn backward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let lane = lid.x;
  let d0 = wg.x * WG + lane;
  let valid = d0 < DI;
  let d = min(d0, DI - 1u);
  let b = wg.z;
  let s = wg.x;
  var hp: array<vec4<f32>, ${t.chunkLength * m.nv}>;
  for (var ks = 0u; ks < KSER; ks++) {
    let k = wg.y * KSER + ks;
    let c = k * DI + d;
${
    repeat(m.nv, (j) =>
      `    let a${j} = ${aLoad(j, N)};
    let a2${j} = a${j} * LOG2E;
    var r${j} = vec4<f32>(0.0);
    var gA${j} = vec4<f32>(0.0);`)
  }
    var gD = 0.0;
    var gBias = 0.0;
    let dc = DD[c];
    let bias = BIAS[c];
    for (var chi = 0u; chi < NCH; chi++) {
      let ch = NCH - 1u - chi;
      let t0 = ch * T;
      let tl = min(T, L - t0);
${repeat(m.nv, (j) => `      var h${j} = vec4<f32>(0.0);`)}
      if (ch > 0u) {
        let ck = ((b * CH + c) * NCH + ch - 1u) * NV;
${repeat(m.nv, (j) => `        h${j} = CK[ck + ${u(j)}];`)}
      }
      for (var i = 0u; i < tl; i++) {
        let p = pos(k, t0 + i);
        let dlt = softplus(DL[iDl(b, k, d, p)] + bias);
        let du = dlt * U[iU(b, k, d, p)];
        let bb = iB(b, k, p);
${
    repeat(m.nv, (j) =>
      `        hp[i * NV + ${u(j)}] = h${j};
        h${j} = exp2(dlt * a2${j}) * h${j} + du * ${vec("BB", "bb", "NSB", j, N)};`)
  }
      }
      let nblk = (tl + SB - 1u) / SB;
      for (var bi = 0u; bi < nblk; bi++) {
        let blk = nblk - 1u - bi;
        for (var ii = 0u; ii < SB; ii++) {
          let slot = SB - 1u - ii;
          let i = blk * SB + slot;
${
    repeat(m.nv, (j) =>
      `          var sB${j} = vec4<f32>(0.0);\n          var sC${j} = vec4<f32>(0.0);`)
  }
          if (i < tl) {
            let p = pos(k, t0 + i);
            let z = DL[iDl(b, k, d, p)] + bias;
            let dlt = softplus(z);
            let sig = select(1.0 / (1.0 + exp(-z)), 1.0, z > 20.0);
            let iu = iU(b, k, d, p);
            let uu = U[iu];
            let g = select(0.0, DOUT[iu], valid);
            let du = dlt * uu;
            let bb = iB(b, k, p);
            let cb = iC(b, k, p);
            var dus = 0.0;
            var dds = 0.0;
${
    repeat(m.nv, (j) =>
      `            {
              let bj = ${vec("BB", "bb", "NSB", j, N)};
              let cj = ${vec("CC", "cb", "NSC", j, N)};
              let ab = exp2(dlt * a2${j});
              let ahp = ab * hp[i * NV + ${u(j)}];
              let dh = g * cj + r${j};
              sB${j} = dh * du;
              sC${j} = g * (ahp + du * bj);
              dus = dus + dot(dh, bj);
              dds = dds + dot(dh, bj * uu + a${j} * ahp);
              gA${j} = gA${j} + dh * ahp * dlt;
              r${j} = dh * ab;
            }`)
  }
            let dz = dds * sig;
            gD = gD + g * uu;
            gBias = gBias + dz;
            if (valid) {
              DDL[iDl(b, k, d, p)] = dz;
              let duv = dc * g + dus * dlt;
              ${storeDu}
            }
          }
          let sb = (lane * SB + slot) * 2u * N;
${stage.join("\n")}
        }
        workgroupBarrier();
        for (var e = lane; e < E2; e += WG) {
          var acc = 0.0;
          for (var w = 0u; w < WG; w++) { acc = acc + SH[w * E2 + e]; }
          let slot = e / (2u * N);
          let rem = e % (2u * N);
          let plane = rem / N;
          let n = rem % N;
          let i = blk * SB + slot;
          if (i < tl) {
            PBC[((((plane * NB + b) * KALL + k) * S + s) * L + t0 + i) * N + n] = acc;
          }
        }
        workgroupBarrier();
      }
    }
    if (valid) {
      let pp = (b * CH + c) * (N + 2u);
${repeat(N, (n) => `      PP[pp + ${u(n)}] = gA${n >> 2}.${"xyzw"[n & 3]};`)}
      PP[pp + N] = gD;
      PP[pp + N + 1u] = gBias;
    }
  }
}
`;
}

/** Flat invocation index over a 2D dispatch of 256-wide workgroups. */
const FLAT = `
fn flat(lid: vec3<u32>, wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}
`;

/**
 * dB or dC reduction: one invocation per (batch, group, scan position, state) sums the
 * workgroup-slice partials and writes through the layout's index map (other slots untouched).
 */
export function reduceBcWgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  plane: 0 | 1,
): string {
  const ix = plane === 0 ? "iB" : "iC";
  const ns = plane === 0 ? "NSB" : "NSC";
  return header(l, t, m) + FLAT + `
@group(0) @binding(0) var<storage, read> PBC: array<f32>;
@group(0) @binding(1) var<storage, read_write> OUTBC: array<f32>;

@compute @workgroup_size(256)
fn reduce(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = flat(lid, wg, nwg);
  if (f >= NB * KALL * L * N) { return; }
  let n = f % N;
  let t = (f / N) % L;
  let k = (f / (N * L)) % KALL;
  let b = f / (N * L * KALL);
  var acc = 0.0;
  for (var s = 0u; s < S; s++) {
    acc = acc + PBC[(((((${plane}u * NB + b) * KALL + k) * S + s) * L + t) * N + n)];
  }
  OUTBC[${ix}(b, k, pos(k, t)) + n * ${ns}] = acc;
}
`;
}

/** dA, dD, d_delta_bias: one invocation per (channel, slot) sums the per-batch partials. */
export function reduceParamsWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  return header(l, t, m) + FLAT + `
@group(0) @binding(0) var<storage, read> PP: array<f32>;
@group(0) @binding(1) var<storage, read_write> DA: array<f32>;
@group(0) @binding(2) var<storage, read_write> DDo: array<f32>;
@group(0) @binding(3) var<storage, read_write> DBIAS: array<f32>;

@compute @workgroup_size(256)
fn reduce(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = flat(lid, wg, nwg);
  if (f >= CH * (N + 2u)) { return; }
  let j = f % (N + 2u);
  let c = f / (N + 2u);
  var acc = 0.0;
  for (var b = 0u; b < NB; b++) { acc = acc + PP[(b * CH + c) * (N + 2u) + j]; }
  if (j < N) { DA[c * N + j] = acc; } else if (j == N) { DDo[c] = acc; } else { DBIAS[c] = acc; }
}
`;
}
