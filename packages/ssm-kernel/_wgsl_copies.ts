/**
 * The scan's data-movement kernels: the generic layout's B/C packing into per-position
 * records, and the batched transposes of the CPU family's channel-major backward.
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
  u,
} from "./_wgsl_header.ts";

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
