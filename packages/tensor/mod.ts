/**
 * `@vmunet/tensor`: a small WebGPU tensor engine with reverse-mode autodiff, built to train
 * VM-UNet in TypeScript.
 *
 * - {@linkcode Engine}: created from a `GpuContext` (`requestGpu()`); owns a pipeline cache,
 *   a pooled allocator with live/peak byte counters, one long-lived command encoder and
 *   compute pass (no submit per op; `flush()` submits, `read()` maps), a params ring buffer,
 *   `scope()`/`keep()` memory discipline, `noGrad()` and the tape.
 * - {@linkcode Tensor}: shape, dtype `f32`/`i32`, contiguous row-major pooled buffer
 *   (`tensor.buffer` for custom kernels), `requiresGrad`, `grad`, `dispose()`, `backward()`.
 * - Ops (PyTorch semantics, channels-last friendly), each with backward: element-wise with
 *   broadcasting, activations, reductions, softmax, layout ops, batched matmul and linear.
 * - {@linkcode defineOp}: custom differentiable ops that encode their own dispatches, with the
 *   row-kernel building blocks the built-in LayerNorm uses ({@linkcode rowLanes},
 *   {@linkcode clusterSum8}, {@linkcode laneGroupSize}, {@linkcode chunksOf},
 *   {@linkcode sumRowsPair}).
 *
 * The device layer (`requestGpu`, typed GPU errors, buffer transfers, a self-test) and a
 * safetensors reader/writer (`@vmunet/tensor/safetensors`) live here too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, mean, mul, sub } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const w = engine.parameter([0.5, -1], [2], "w");
 * const x = engine.tensor([1, 2, 3, 4], [2, 2]);
 * const target = engine.tensor([1, 1], [2, 1]);
 * const loss = engine.scope(() => {
 *   const err = sub(mul(x, w), target); // broadcasting (2,2)·(2) − (2,1)
 *   const l = mean(mul(err, err));
 *   l.backward();
 *   return l; // survives the scope; every other temporary is disposed
 * });
 * assert.equal((await loss.read())[0], 8.625); // mean of [-0.5, -3, 0.5, -5]²
 * assert.deepEqual(Array.from(await w.grad!.read()), [0.5, -13]);
 * engine.destroy();
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./device.ts";
export * from "./buffer_io.ts";
export * from "./selftest.ts";
export * from "./safetensors.ts";
export * from "./tensor_errors.ts";
export { type Dtype, Storage, type TapeNode, Tensor } from "./tensor.ts";
export * from "./buffer_pool.ts";
export * from "./engine.ts";
export * from "./custom_op.ts";
export {
  chunksOf,
  clusterSum8,
  laneGroupSize,
  type RowLanes,
  rowLanes,
  sumRowsPair,
} from "./_nn_util.ts";
export * from "./params.ts";
export * from "./ops/elementwise.ts";
export * from "./ops/reduce.ts";
export * from "./ops/layout.ts";
export * from "./ops/softmax.ts";
export * from "./ops/matmul.ts";
export type { RegisterTile, SharedTile } from "./ops/matmul_kernels.ts";
export * from "./rng.ts";
export * from "./init.ts";
export * from "./lr_schedule.ts";
export * from "./ops/layer_norm.ts";
export * from "./ops/conv.ts";
export * from "./ops/drop_path.ts";
export * from "./losses.ts";
export * from "./adamw.ts";
export * from "./ops/random.ts";
