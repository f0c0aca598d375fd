/**
 * `@vmunet/vmunet`: VM-UNet's configurations, its official parameter layout, and checkpoint
 * I/O — safetensors with the official key names, official PyTorch `.pth` files read through
 * a restricted unpickler that never runs code, and the official mapping of VMamba ImageNet
 * weights onto the encoder and the mirrored decoder.
 *
 * @example
 * ```ts
 * import { parameterCount, parameterSpecs, preset } from "@vmunet/vmunet";
 * const config = preset("vmunet-s");
 * console.log(parameterCount(parameterSpecs(config))); // 27427561
 * ```
 *
 * @module
 */

export * from "./config.ts";
export * from "./state_dict.ts";
export * from "./checkpoint.ts";
export * from "./pth.ts";
export {
  type OpaqueObject,
  PickleError,
  type StorageRef,
  type TensorRef,
  unpickle,
  type UnpickleOptions,
} from "./pickle.ts";
export type { SafetensorsDtype, SafetensorsEntry } from "@vmunet/tensor/safetensors";
