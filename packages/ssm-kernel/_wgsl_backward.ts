/**
 * The CPU family's backward kernels: the row kernel (recompute and reverse walk per row, du,
 * dΔ, per-(batch, channel) partials of dA, dD, d_delta_bias and the adjoint carries), the
 * dB/dC kernel (an invocation per chunk of positions, looping over the channels), the
 * reduction of the partials, the packing of A, D, delta_bias into the workspace, and the
 * transposes of the channel-major backward (u, Δ, dy in; du, dΔ out).
 *
 * @module
 */

import {
  f32Bindings,
  FLAT,
  flatEntry,
  header,
  type KernelDims,
  type KernelLayout,
  type KernelTuning,
  repeat,
  u,
} from "./_wgsl_header.ts";
import { aLoad, channelEntry, loadBC } from "./_wgsl_rows.ts";

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
