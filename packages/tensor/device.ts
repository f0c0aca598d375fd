/**
 * Acquire a WebGPU adapter and device with the limits and features the kernels can use.
 *
 * @module
 */

import { DeviceLostError, GpuError, GpuValidationError, NoAdapterError } from "./errors.ts";
import { probeSubgroupsDirective } from "@vmunet/wgsl";

/** Limits raised to what the adapter offers; the rest keep WebGPU's defaults. */
const RAISED_LIMITS: readonly string[] = [
  "maxBindGroups",
  "maxStorageBuffersPerShaderStage",
  "maxUniformBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
];

/** Optional features requested when they exist. `subgroups` is also tried when not listed. */
const OPTIONAL_FEATURES: readonly string[] = ["shader-f16", "timestamp-query", "subgroups"];

/** Options of {@linkcode requestGpu}. */
export interface RequestGpuOptions {
  /** The WebGPU entry point; defaults to `navigator.gpu` (inject a fake to test failures). */
  gpu?: GPU | null;
  /** Adapter preference; defaults to `"high-performance"`. */
  powerPreference?: GPUPowerPreference;
  /** Request subgroups even when the adapter does not list them (default true; Deno accepts it). */
  trySubgroups?: boolean;
  /** Called for every uncaptured GPU error and for a device loss (default: none; see `failure`). */
  onError?: (error: GpuError) => void;
  /**
   * The limits to request, instead of the default request (the adapter's maxima of the
   * buffer, binding and workgroup limits): exactly these are requested and every other limit
   * keeps WebGPU's default — e.g. to run under the limits a browser's adapter offers.
   */
  requiredLimits?: Record<string, number>;
}

/** Adapter identity as reported by `adapter.info`. */
export interface AdapterDescription {
  /** Vendor string or PCI id. */
  vendor: string;
  /** Architecture name, often empty. */
  architecture: string;
  /** Device string or PCI id. */
  device: string;
  /** Human-readable description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  description: string;
  /** Whether this is a software (fallback) adapter such as lavapipe. */
  isFallbackAdapter: boolean;
  /** Smallest subgroup size the adapter reports, 0 if unknown. */
  subgroupMinSize: number;
  /** Largest subgroup size the adapter reports, 0 if unknown. */
  subgroupMaxSize: number;
}

/**
 * Whether an adapter is a software (CPU) one: it says it is a fallback adapter, or its name
 * is that of a known software rasteriser (llvmpipe/lavapipe, SwiftShader). The one rule
 * behind every per-adapter kernel choice (`Engine.isCpuAdapter` with `adapterClass: "auto"`).
 *
 * @param info From `GpuContext.adapterInfo`.
 * @returns True for a software adapter.
 */
export function isSoftwareAdapter(info: AdapterDescription): boolean {
  return info.isFallbackAdapter ||
    /llvmpipe|lavapipe|swiftshader/i.test(`${info.description} ${info.device}`);
}

/** An acquired WebGPU device with what was obtained and a record of asynchronous failures. */
export interface GpuContext {
  /** The adapter the device came from. */
  readonly adapter: GPUAdapter;
  /** The device every kernel of this project runs on. */
  readonly device: GPUDevice;
  /** Adapter identity. */
  readonly adapterInfo: AdapterDescription;
  /** Features enabled on the device. */
  readonly features: ReadonlySet<string>;
  /** Whether subgroup operations may be used in WGSL (the device has the `subgroups` feature). */
  readonly subgroups: boolean;
  /**
   * Whether WGSL using subgroup builtins must start with `enable subgroups;`: probed on the
   * device when it is acquired (the WGSL specification and Chrome require the directive,
   * Deno's wgpu refuses it).
   */
  readonly subgroupsDirective: boolean;
  /** Whether `shader-f16` is enabled. */
  readonly shaderF16: boolean;
  /** Whether `timestamp-query` is enabled. */
  readonly timestampQuery: boolean;
  /** Device limits obtained (numbers only). */
  readonly limits: Readonly<Record<string, number>>;
  /** The first uncaptured error or device loss seen so far, if any. */
  readonly failure: GpuError | undefined;
  /** Throws the first recorded uncaptured error or device loss, if any. */
  throwIfFailed(): void;
  /**
   * Destroys the device at once (a deliberate loss is not recorded as a failure). Destroying
   * a device whose submitted work is still running can crash Deno ("timed out while waiting
   * on the last successful submission"): after unawaited submits use {@linkcode close}.
   */
  destroy(): void;
  /** Waits until the queue has finished every submitted command, then destroys the device. */
  close(): Promise<void>;
}

/**
 * The few calls of Deno's namespace that {@linkcode ensureRuntimeDir} and
 * {@linkcode backendVariable} make.
 */
interface DenoRuntimeDir {
  build: { os: string };
  env: {
    get(key: string): string | undefined;
    set(key: string, value: string): void;
    delete(key: string): void;
  };
  makeTempDirSync(options: { prefix: string }): string;
  chmodSync(path: string, mode: number): void;
}

/** The variable through which Deno's wgpu chooses its backends. */
const BACKEND_VARIABLE = "DENO_WEBGPU_BACKEND";
/** What {@linkcode BACKEND_VARIABLE} accepts (wgpu also takes vk, d3d12, mtl, opengl, gles). */
const BACKEND_VALUES = "a comma-separated list of vulkan, metal, dx12, gl";

/** `DENO_WEBGPU_BACKEND` as the adapter request sees it. */
interface BackendVariable {
  /** Its value when set and not blank. */
  value?: string;
  /** It was blank and has been removed from the environment. */
  emptied: boolean;
}

/**
 * Reads `DENO_WEBGPU_BACKEND` (Deno only; found by feature detection). A blank value makes
 * wgpu enable no backend at all (no adapter, not even the OpenGL one), so it is treated like
 * unset: removed from the environment before the adapter request — Deno reads the variable
 * once, when its WebGPU instance starts with the first request.
 */
function backendVariable(): BackendVariable {
  const deno = (globalThis as { Deno?: DenoRuntimeDir }).Deno;
  if (deno === undefined) return { emptied: false };
  try {
    const value = deno.env.get(BACKEND_VARIABLE);
    if (value === undefined) return { emptied: false };
    if (value.trim() !== "") return { value, emptied: false };
    deno.env.delete(BACKEND_VARIABLE);
    return { emptied: true };
  } catch {
    return { emptied: false }; // no env permission: the request goes on as the runtime has it
  }
}

/** Backend names wgpu reads from {@linkcode BACKEND_VARIABLE} (case-insensitive). */
const KNOWN_BACKENDS: readonly string[] = [
  "vulkan",
  "vk",
  "metal",
  "mtl",
  "dx12",
  "d3d12",
  "gl",
  "gles",
  "opengl",
];

/**
 * What a null adapter means, naming `DENO_WEBGPU_BACKEND` when it chose the backends, and
 * whether a driver install may help (not when the variable's value alone explains it).
 */
function nullAdapterCause(backend: BackendVariable): { detail: string; driverHelp: boolean } {
  const detail = "`navigator.gpu.requestAdapter()` returned null.";
  if (backend.emptied) {
    return {
      detail: `${detail} ${BACKEND_VARIABLE} was set but empty, which enables no backend; it ` +
        `was unset for this process, but WebGPU had already started with it: unset ` +
        `${BACKEND_VARIABLE} (or set it to ${BACKEND_VALUES}) before starting.`,
      driverHelp: false,
    };
  }
  if (backend.value !== undefined) {
    const entries = backend.value.split(",").map((b) => b.trim()).filter((b) => b !== "");
    const unknown = entries.filter((b) => !KNOWN_BACKENDS.includes(b.toLowerCase()));
    const named = unknown.length < entries.length; // a known backend: its driver may be missing
    const ignored = unknown.map((b) => `"${b}"`).join(", ");
    const what = !named
      ? "names no backend wgpu knows"
      : `limits the backends wgpu may use${unknown.length ? ` (${ignored} ignored)` : ""}`;
    return {
      detail: `${detail} ${BACKEND_VARIABLE}="${backend.value}" ${what}: ` +
        `unset it to let wgpu choose, or set it to ${BACKEND_VALUES}.`,
      driverHelp: named,
    };
  }
  return { detail, driverHelp: true };
}

/**
 * Mesa's Vulkan drivers print a warning when `XDG_RUNTIME_DIR` is unset or not a private
 * folder; give the process a private temporary one before the first adapter request. Found
 * by feature detection (no `Deno` global in a browser: nothing happens there), so the package
 * type-checks and bundles for the browser.
 */
function ensureRuntimeDir(): void {
  const deno = (globalThis as { Deno?: DenoRuntimeDir }).Deno;
  if (deno === undefined || deno.build.os !== "linux") return;
  try {
    if (deno.env.get("XDG_RUNTIME_DIR")) return;
    const dir = deno.makeTempDirSync({ prefix: "vmunet-xdg-" });
    deno.chmodSync(dir, 0o700);
    deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch {
    // Without env/write permission the warning stays; it is harmless.
  }
}

function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  // deno-lint-ignore no-explicit-any
  const info = (adapter.info ?? {}) as any;
  // deno-lint-ignore no-explicit-any
  const fallback = info.isFallbackAdapter ?? (adapter as any).isFallbackAdapter ?? false;
  return {
    vendor: String(info.vendor ?? ""),
    architecture: String(info.architecture ?? ""),
    device: String(info.device ?? ""),
    description: String(info.description ?? ""),
    isFallbackAdapter: Boolean(fallback),
    subgroupMinSize: Number(info.subgroupMinSize ?? 0),
    subgroupMaxSize: Number(info.subgroupMaxSize ?? 0),
  };
}

function limitsOf(source: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key in source) {
    const value = (source as unknown as Record<string, unknown>)[key];
    if (typeof value === "number") out[key] = value;
  }
  return out;
}

/**
 * Acquires a high-performance WebGPU adapter and a device with raised limits and optional
 * features, and records uncaptured errors and device loss as typed errors.
 *
 * @param options Injection point and preferences.
 * @returns The device with what was obtained.
 * @throws {NoAdapterError} when WebGPU or an adapter is missing, with instructions.
 *
 * On Linux, when `XDG_RUNTIME_DIR` is unset it is pointed at a private temporary folder
 * (Mesa warns otherwise). Under Deno, an empty `DENO_WEBGPU_BACKEND` (which would enable no
 * backend) is treated like unset, and a null adapter under a non-empty one names the variable
 * and the values it takes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestGpu } from "@vmunet/tensor";
 * const gpu = await requestGpu();
 * assert.ok(gpu.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20); // raised to the adapter's
 * await gpu.close();
 * ```
 */
export async function requestGpu(options: RequestGpuOptions = {}): Promise<GpuContext> {
  ensureRuntimeDir();
  const backend: BackendVariable = options.gpu === undefined
    ? backendVariable()
    : { emptied: false };
  const gpu = options.gpu !== undefined
    ? options.gpu
    : (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new NoAdapterError("This runtime has no `navigator.gpu` (WebGPU).");
  const adapter = await gpu.requestAdapter({
    powerPreference: options.powerPreference ?? "high-performance",
  });
  if (!adapter) {
    const { detail, driverHelp } = nullAdapterCause(backend);
    throw new NoAdapterError(detail, driverHelp);
  }

  const adapterLimits = limitsOf(adapter.limits);
  let requiredLimits: Record<string, number> = {};
  for (const key of RAISED_LIMITS) {
    if (adapterLimits[key] !== undefined) requiredLimits[key] = adapterLimits[key];
  }
  if (options.requiredLimits) requiredLimits = { ...options.requiredLimits };
  const listed = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const attempts: string[][] = [];
  if (options.trySubgroups !== false && !listed.includes("subgroups")) {
    attempts.push([...listed, "subgroups"]);
  }
  attempts.push(listed);

  let device: GPUDevice | undefined;
  let lastError: unknown;
  for (const features of attempts) {
    try {
      device = await adapter.requestDevice({
        requiredFeatures: features as GPUFeatureName[],
        requiredLimits,
      });
      break;
    } catch (error) {
      lastError = error;
    }
  }
  if (!device) {
    throw new GpuError(`requestDevice failed: ${String(lastError)}`, { cause: lastError });
  }
  return wrapDevice(adapter, device, await probeSubgroupsDirective(device), options.onError);
}

function wrapDevice(
  adapter: GPUAdapter,
  device: GPUDevice,
  subgroupsDirective: boolean,
  onError?: (error: GpuError) => void,
): GpuContext {
  let failure: GpuError | undefined;
  let destroyed = false;
  const record = (error: GpuError) => {
    failure ??= error;
    onError?.(error);
  };
  device.addEventListener("uncapturederror", (event) => {
    const error = (event as GPUUncapturedErrorEvent).error;
    const kind = error instanceof GPUOutOfMemoryError
      ? "out-of-memory"
      : error instanceof GPUValidationError
      ? "validation"
      : "internal";
    record(new GpuValidationError(kind, error.message));
  });
  device.lost.then((info) => {
    if (destroyed && info.reason === "destroyed") return;
    record(new DeviceLostError(info.reason, info.message));
  });
  const features = new Set<string>(device.features as unknown as Iterable<string>);
  return {
    adapter,
    device,
    adapterInfo: describeAdapter(adapter),
    features,
    subgroups: features.has("subgroups"),
    subgroupsDirective,
    shaderF16: features.has("shader-f16"),
    timestampQuery: features.has("timestamp-query"),
    limits: limitsOf(device.limits),
    get failure() {
      return failure;
    },
    throwIfFailed() {
      if (failure) throw failure;
    },
    destroy() {
      destroyed = true;
      device.destroy();
    },
    async close() {
      if (destroyed) return;
      try {
        await device.queue.onSubmittedWorkDone();
      } finally {
        destroyed = true;
        device.destroy();
      }
    },
  };
}

/**
 * Runs `body` inside validation and out-of-memory error scopes and throws a
 * {@linkcode GpuValidationError} naming `where` if WebGPU reported one.
 *
 * @param device The device.
 * @param where What the body does (quoted in the error).
 * @param body Work that creates pipelines, buffers or submits commands.
 * @returns What `body` returned.
 */
export async function withErrorScope<T>(
  device: GPUDevice,
  where: string,
  body: () => T | Promise<T>,
): Promise<T> {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  let result: T | undefined;
  let bodyError: unknown;
  let failed = false;
  try {
    result = await body();
  } catch (error) {
    bodyError = error;
    failed = true;
  }
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (validation) throw new GpuValidationError("validation", validation.message, where);
  if (oom) throw new GpuValidationError("out-of-memory", oom.message, where);
  if (failed) throw bodyError;
  return result as T;
}
