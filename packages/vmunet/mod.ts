/**
 * `@vmunet/vmunet`: VM-UNet on WebGPU — the model ({@linkcode VMUNet}: official parameter
 * names, initialisation, forward, losses), its configurations, inference helpers
 * ({@linkcode predict}), and checkpoint I/O — safetensors with the official key names,
 * official PyTorch `.pth` files read through a restricted unpickler that never runs code,
 * and the official mapping of VMamba ImageNet weights onto the encoder and the mirrored
 * decoder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "@vmunet/tensor";
 * import { parameterCount, parameterSpecs, preset, VMUNet } from "@vmunet/vmunet";
 * assert.equal(parameterCount(parameterSpecs(preset("vmunet-s"))), 27427561);
 * const engine = await Engine.create();
 * const model = VMUNet.create(engine, preset("vmunet-t", { dims: 8 }), { seed: 1 });
 * const { output } = model.forward(engine.full([1, 3, 32, 32], 1), { training: false });
 * assert.deepEqual(output.shape, [1, 1, 32, 32]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 *
 * @module
 */

export * from "./config.ts";
export * from "./file_error.ts";
export * from "./state_dict.ts";
export * from "./checkpoint.ts";
export * from "./checkpoint_format.ts";
export * from "./pth.ts";
export * from "./model.ts";
export * from "./predict.ts";
export {
  type OpaqueObject,
  PickleError,
  type StorageRef,
  type TensorRef,
  unpickle,
  type UnpickleOptions,
} from "./pickle.ts";
export type { SafetensorsDtype, SafetensorsEntry } from "@vmunet/tensor/safetensors";
