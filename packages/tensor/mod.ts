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
 * - Convolutions, LayerNorm, drop path, losses, initialisers, AdamW with gradient clipping
 *   and a cosine learning-rate schedule.
 *
 * `requestGpu` and the typed GPU errors live here too. Authoring kernels and custom ops
 * (`defineOp`, named kernel params, dispatch grids, the row-kernel building blocks, the
 * buffer pool, raw buffer transfers, the self-test) is `@vmunet/tensor/kernels`; the
 * safetensors reader/writer is `@vmunet/tensor/safetensors`.
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

export {
  ADAPTER_HELP,
  DeviceLostError,
  GpuError,
  GpuValidationError,
  NoAdapterError,
} from "./errors.ts";
export {
  type AdapterDescription,
  type GpuContext,
  isSoftwareAdapter,
  requestGpu,
  type RequestGpuOptions,
} from "./device.ts";
export {
  DisposedTensorError,
  DtypeError,
  GradError,
  ShapeError,
  TensorError,
} from "./tensor_errors.ts";
export { type Dtype, Tensor } from "./tensor.ts";
export { Engine, type EngineOptions, type EngineStats, type TensorOptions } from "./engine.ts";
export * from "./ops/elementwise.ts";
export * from "./ops/reduce.ts";
export * from "./ops/layout.ts";
export * from "./ops/softmax.ts";
export { linear, matmul, type MatmulOptions, type MatmulVariant } from "./ops/matmul.ts";
export type { RegisterTile, SharedTile } from "./ops/matmul_kernels.ts";
export { Rng } from "./rng.ts";
export * from "./ops/random.ts";
export {
  fanIn,
  initFanInUniform,
  initKaimingUniform,
  initOnes,
  initTruncNormal,
  initUniform,
  initZeros,
  type TruncNormalOptions,
} from "./init.ts";
export * from "./lr_schedule.ts";
export { layerNorm } from "./ops/layer_norm.ts";
export * from "./ops/conv_depthwise.ts";
export * from "./ops/conv_patchify.ts";
export * from "./ops/conv_1x1.ts";
export * from "./ops/drop_path.ts";
export * from "./losses.ts";
export * from "./adamw.ts";
export { clipGradNorm } from "./grad_norm.ts";
