/**
 * The GPU family's backward kernels: **local** (the adjoint carry of each chunk from a zero
 * carry), **apply** (du, dΔ and per-chunk partials of dA, dD, d_delta_bias), **dB/dC** (one
 * writer per element, summed over the channels in registers) and **reduce** (the partials
 * summed); the **carry** between local and apply is in `_wgsl_chunked.ts`.
 *
 * @module
 */

import {
  f32Bindings,
  type KernelDims,
  type KernelLayout,
  type KernelTuning,
  u,
} from "./_wgsl_header.ts";
import {
  applyHead,
  common,
  FLAT_WG,
  load4,
  localWgsl,
  mergeStore,
  vecAt,
} from "./_wgsl_chunked.ts";

/**
 * Backward **local**: runs the adjoint recurrence `dh = g·C + r`, `r = ā·dh` over each
 * chunk right to left from a zero carry and stores the carry leaving its first position and
 * ΣΔ into the workspace. Invocations below `CH·N` also copy A, D, delta_bias into the
 * workspace's packed parameters (so that the later kernels bind one buffer for them).
 * Bindings: DL, AA, CC, DD, BIAS, DOUT, X (the workspace, read-write).
 */
export function localBackwardWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  return localWgsl(l, t, m, {
    entry: "local_backward",
    read: ["DL", "AA", "CC", "DD", "BIAS", "DOUT"],
    before: `  if (f < CH * N) { X[PA + f] = AA[f]; }
  if (f < CH) { X[PD + f] = DD[f]; X[PB + f] = BIAS[f]; }`,
    reverse: true,
    load: `      let g = DOUT[iU(b, k, d, p)];
      let ic = iC(b, k, p);`,
    update: (j) =>
      `      v${j} = exp2(dlt * a${j}) * (g * ${
        vecAt(l.dState, "CC", "ic", `${j}u`, "NSC")
      } + v${j});`,
  });
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
  const T = t.chunkLength;
  const bindings = f32Bindings(["U", "DL", "BB", "CC", "DOUT", "ST"], ["WS", "DU", "DDL"]);
  return applyHead(l, t, m, "apply_backward", bindings, ["XS", "YS"]) + `
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
