/**
 * A short compute self-test of a WebGPU device, checked against the CPU.
 *
 * @module
 */

import { createStorageBuffer, readBuffer } from "./buffer_io.ts";
import { withErrorScope } from "./device.ts";
import { probeSubgroupsDirective, withSubgroupsDirective } from "@vmunet/wgsl";

/** The result of {@linkcode runSelfTest}. */
export interface SelfTestResult {
  /** Whether every check held. */
  ok: boolean;
  /** Matrix size of the matmul check. */
  size: number;
  /** Largest |GPU − CPU| over the matmul outputs. */
  maxAbsError: number;
  /** Tolerance the error was compared with. */
  tolerance: number;
  /** Whether a subgroup reduction ran and matched (undefined when subgroups are off). */
  subgroupsOk?: boolean;
  /** Wall-clock milliseconds of the whole test, readback included. */
  milliseconds: number;
}

const MATMUL_WGSL = /* wgsl */ `
// One invocation per output element C[row, col] of C = A·B (n×n, row-major).
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
override n: u32 = 64u;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= n || id.y >= n) { return; }
  var acc = 0.0;
  for (var k = 0u; k < n; k++) { acc += a[id.y * n + k] * b[k * n + id.x]; }
  c[id.y * n + id.x] = acc;
}`;

const SUBGROUP_WGSL = /* wgsl */ `
// One invocation per element; each subgroup's first lane writes the subgroup sum.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32,
        @builtin(subgroup_size) size: u32) {
  let s = subgroupAdd(x[id.x]);
  if (lane == 0u) { y[id.x / size] = s; }
}`;

/** A seeded pseudo-random sequence in [-1, 1) (xorshift32), for reproducible test data. */
function seededValues(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Multiplies two seeded `size × size` matrices on the GPU and on the CPU (float64) and
 * compares them; with subgroups enabled, also checks a subgroup sum.
 *
 * @param device The device to test.
 * @param options `size` of the matrices (default 64) and whether to test `subgroups`.
 * @returns What was measured.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestGpu } from "@vmunet/tensor";
 * import { runSelfTest } from "@vmunet/tensor/kernels";
 * const gpu = await requestGpu();
 * const result = await runSelfTest(gpu.device, { subgroups: gpu.subgroups });
 * assert.ok(result.ok, `self-test error ${result.maxAbsError}`);
 * gpu.destroy();
 * ```
 */
export async function runSelfTest(
  device: GPUDevice,
  options: { size?: number; subgroups?: boolean } = {},
): Promise<SelfTestResult> {
  const n = options.size ?? 64;
  const start = performance.now();
  const a = seededValues(n * n, 1);
  const b = seededValues(n * n, 2);
  const expected = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      for (let j = 0; j < n; j++) expected[i * n + j] += aik * b[k * n + j];
    }
  }
  const got = await withErrorScope(device, "self-test matmul", async () => {
    const bufA = createStorageBuffer(device, a);
    const bufB = createStorageBuffer(device, b);
    const bufC = createStorageBuffer(device, new Float32Array(n * n));
    const pipeline = device.createComputePipeline({
      layout: "auto",
      compute: {
        module: device.createShaderModule({ code: MATMUL_WGSL }),
        entryPoint: "main",
        constants: { n },
      },
    });
    const bind = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [bufA, bufB, bufC].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(Math.ceil(n / 8), Math.ceil(n / 8));
    pass.end();
    device.queue.submit([encoder.finish()]);
    const out = new Float32Array(await readBuffer(device, bufC));
    for (const buffer of [bufA, bufB, bufC]) buffer.destroy();
    return out;
  });
  let maxAbsError = 0;
  for (let i = 0; i < n * n; i++) {
    maxAbsError = Math.max(maxAbsError, Math.abs(got[i] - expected[i]));
  }
  const tolerance = 1e-5 * n;
  let subgroupsOk: boolean | undefined;
  if (options.subgroups) subgroupsOk = await subgroupCheck(device);
  return {
    ok: maxAbsError <= tolerance && subgroupsOk !== false,
    size: n,
    maxAbsError,
    tolerance,
    subgroupsOk,
    milliseconds: performance.now() - start,
  };
}

async function subgroupCheck(device: GPUDevice): Promise<boolean> {
  const x = seededValues(64, 3);
  const code = withSubgroupsDirective(SUBGROUP_WGSL, await probeSubgroupsDirective(device));
  const y = await withErrorScope(device, "self-test subgroupAdd", async () => {
    const bufX = createStorageBuffer(device, x);
    const bufY = createStorageBuffer(device, new Float32Array(64).fill(NaN));
    const pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
    });
    const bind = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [bufX, bufY].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(1);
    pass.end();
    device.queue.submit([encoder.finish()]);
    const out = new Float32Array(await readBuffer(device, bufY));
    bufX.destroy();
    bufY.destroy();
    return out;
  });
  // The subgroup size is whatever the hardware chose: infer it from how many slots were written.
  const written = y.findIndex((v) => Number.isNaN(v));
  const groups = written === -1 ? 64 : written;
  if (groups === 0 || 64 % groups !== 0) return false;
  const size = 64 / groups;
  for (let g = 0; g < groups; g++) {
    let sum = 0;
    for (let i = 0; i < size; i++) sum += x[g * size + i];
    if (Math.abs(sum - y[g]) > 1e-5 * size) return false;
  }
  return true;
}
