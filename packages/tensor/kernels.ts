/**
 * `@vmunet/tensor/kernels`: what authoring kernels and custom ops takes — the vocabulary the
 * built-in ops use.
 *
 * - Kernels: `engine.kernel(key, () => ({ params, bindings, code }))` with params declared
 *   once by name ({@linkcode ParamDecl}: the WGSL struct `params.x` and the packing of
 *   `{ x: … }` at dispatch come from one declaration), dispatch grids within the device's
 *   limit (`engine.grid`, `engine.gridRows`, {@linkcode grid1d}, {@linkcode gridRows}).
 * - {@linkcode defineOp}: custom differentiable ops that encode their own dispatches, with the
 *   row-kernel building blocks the built-in LayerNorm uses ({@linkcode rowLanes},
 *   {@linkcode clusterSum8}, {@linkcode clusterPartialsWgsl}, {@linkcode laneGroupSize}, {@linkcode chunksOf},
 *   {@linkcode sumRowsPair}).
 * - The engine's parts a custom op may touch: the buffer pool, tensor storage, the tape node
 *   type, raw buffer transfers, the GPU error scope, the device self-test, the Philox RNG in
 *   WGSL, the matmul kernel and the tuning switches of LayerNorm, the convs and matmul tiles.
 *
 * @example
 * ```ts
 * import { Engine, type Tensor } from "@vmunet/tensor";
 * import { defineOp } from "@vmunet/tensor/kernels";
 * const double: (inputs: readonly Tensor[], attrs: Record<string, never>) => Tensor[] = defineOp<
 *   Record<string, never>
 * >({
 *   name: "double",
 *   forward(engine, [x]) {
 *     const kernel = engine.kernel("example.double", () => ({
 *       params: { n: "u32" },
 *       bindings: [{ name: "x" }, { name: "y", access: "read_write" }],
 *       code: `@compute @workgroup_size(64)
 * fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
 *   let i = lin(gid, nwg, 64u);
 *   if (i < params.n) { y[i] = 2.0 * x[i]; }
 * }`,
 *     }));
 *     const y = engine.empty(x.shape);
 *     engine.dispatch({
 *       kernel,
 *       bindings: [x, y],
 *       params: { n: x.size },
 *       workgroups: engine.grid(x.size, 64),
 *     });
 *     return { outputs: [y] };
 *   },
 *   backward({ gradOutputs: [g] }): Tensor[] {
 *     return [double([g!], {})[0]];
 *   },
 * });
 * const engine = await Engine.create();
 * const [y] = double([engine.tensor([1, 2], [2])], {});
 * const got = await y.read();
 * if (got[0] !== 2 || got[1] !== 4) throw new Error(`double: ${got}`);
 * engine.destroy();
 * ```
 *
 * @module
 */

export type {
  Bindable,
  BindingAccess,
  DispatchOptions,
  Kernel,
  KernelBinding,
  KernelSpec,
  ParamDecl,
  ParamType,
  ParamValue,
  ParamValues,
  StreamStats,
} from "./engine.ts";
export {
  DEFAULT_MAX_WORKGROUPS,
  grid1d,
  gridRows,
  KernelParamError,
  type ParamBinding,
  ParamLayout,
  PARAMS_WORDS,
} from "@vmunet/wgsl";
export * from "./custom_op.ts";
export {
  chunksOf,
  clusterPartialsWgsl,
  clusterSum8,
  COLUMN_CHUNK_PARAMS,
  columnChunksWgsl,
  laneGroupSize,
  rowGradSums,
  rowKernelWgsl,
  type RowLanes,
  rowLanes,
  rowMoments,
  sumRowsPair,
} from "./_nn_util.ts";
export { Storage, type TapeNode } from "./tensor.ts";
export * from "./buffer_pool.ts";
export * from "./buffer_io.ts";
export { withErrorScope } from "./device.ts";
export * from "./selftest.ts";
export { formatShape } from "./tensor_errors.ts";
export {
  philox4x32,
  randomBits,
  randomNormal,
  randomUniform,
  RNG_WGSL,
  seedKey,
  uniformFromBits,
} from "./rng.ts";
export { erf, erfinv, normalCdf } from "./init.ts";
export {
  DEFAULT_REGISTER_TILE,
  DEFAULT_SHARED_TILE,
  GPU_REGISTER_TILE,
  matmulKernel,
  MAX_TT_TILE,
  pickRegisterTile,
} from "./ops/matmul.ts";
export { layerNormConfig } from "./ops/layer_norm.ts";
export { convConfig } from "./ops/_conv.ts";
