/**
 * `@vmunet/tensor`: the WebGPU layer of VM-UNet in TypeScript.
 *
 * Today it holds the device layer (adapter and device acquisition with raised limits and
 * optional features, typed errors for a missing adapter, validation errors and device loss),
 * buffer transfer helpers, a GPU self-test, and a safetensors reader/writer. The tensor
 * engine with autodiff is being built on top of it.
 *
 * @example
 * ```ts
 * import { requestGpu, runSelfTest } from "@vmunet/tensor";
 * const gpu = await requestGpu();
 * const check = await runSelfTest(gpu.device);
 * console.log(gpu.adapterInfo.description, check.ok);
 * gpu.destroy();
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./device.ts";
export * from "./buffer_io.ts";
export * from "./selftest.ts";
export * from "./safetensors.ts";
