/**
 * `@vmunet/ssm-kernel`: Mamba's selective scan (forward and backward) in WGSL on plain
 * WebGPU, with a float64 CPU reference, and SS2D's four-direction 2D cross-scan that reads
 * the feature map in each direction's order by index mapping (no flipped/transposed copies).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectiveScan, selectiveScanReference } from "@vmunet/ssm-kernel";
 * const adapter = await navigator.gpu.requestAdapter();
 * const device = await adapter!.requestDevice({
 *   requiredLimits: { maxStorageBuffersPerShaderStage: adapter!.limits.maxStorageBuffersPerShaderStage },
 * });
 * const x = {
 *   batch: 1, groups: 1, channelsPerGroup: 2, length: 3, dState: 2,
 *   u: [1, 2, 3, 4, 5, 6], delta: [0, 0.1, 0.2, 0.3, 0.4, 0.5], A: [-1, -2, -1, -2],
 *   B: [1, 0, 1, 0, 1, 0], C: [1, 1, 1, 1, 1, 1], D: [1, 1], deltaBias: [0, 0],
 * };
 * const gpu = await selectiveScan(device, x);
 * const cpu = selectiveScanReference(x);
 * assert.ok(Math.max(...gpu.out.map((v, i) => Math.abs(v - cpu[i]))) < 1e-5);
 * device.destroy();
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./reference.ts";
export * from "./selective_scan.ts";
export * from "./cross_scan.ts";
export * from "./autotune.ts";
export { probeSubgroupsDirective } from "@vmunet/wgsl";
