/**
 * Typed errors of the WebGPU device layer.
 *
 * @module
 */

/** Base class of every error raised by the device layer. */
export class GpuError extends Error {
  /** Creates a device-layer error with the given message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GpuError";
  }
}

/** How to obtain a WebGPU adapter, quoted by {@linkcode NoAdapterError}. */
export const ADAPTER_HELP: string = [
  "No WebGPU adapter is available.",
  "- With a GPU: install or update its Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver.",
  "- On a Linux machine without a GPU: install Mesa's software Vulkan driver (lavapipe),",
  "  Debian/Ubuntu: `sudo apt-get install mesa-vulkan-drivers`",
  "  Fedora: `sudo dnf install mesa-vulkan-drivers`.",
  "- Deno exposes WebGPU as `navigator.gpu`; run with Deno 2 or newer.",
  "`deno task doctor` re-checks once a driver is installed.",
].join("\n");

/**
 * Raised when `navigator.gpu` is missing or returns no adapter. The message starts with the
 * cause; {@linkcode ADAPTER_HELP} (driver install advice) follows only where a driver may be
 * the fix, not when a bad `DENO_WEBGPU_BACKEND` value alone explains the missing adapter.
 */
export class NoAdapterError extends GpuError {
  /**
   * Creates the error.
   *
   * @param detail What was observed (no `navigator.gpu`, a `null` adapter) and why.
   * @param driverHelp Whether to append {@linkcode ADAPTER_HELP} (default true).
   */
  constructor(detail: string, driverHelp: boolean = true) {
    super(driverHelp ? `${detail}\n${ADAPTER_HELP}` : detail);
    this.name = "NoAdapterError";
  }
}

/** Raised (or reported) when the GPUDevice is lost for any reason other than `destroy()`. */
export class DeviceLostError extends GpuError {
  /** The `GPUDeviceLostReason` WebGPU gave (`"unknown"` or `"destroyed"`). */
  readonly reason: string;
  /** Creates the error from the lost-info reason and message. */
  constructor(reason: string, message: string) {
    super(`WebGPU device lost (reason: ${reason}): ${message || "no message from the driver"}`);
    this.name = "DeviceLostError";
    this.reason = reason;
  }
}

/** A validation, out-of-memory or internal error that WebGPU reported for a GPU command. */
export class GpuValidationError extends GpuError {
  /** `"validation"`, `"out-of-memory"` or `"internal"`. */
  readonly kind: string;
  /** Creates the error; `where` names the operation at fault. */
  constructor(kind: string, message: string, where?: string) {
    super(`WebGPU ${kind} error${where ? ` in ${where}` : ""}: ${message}`);
    this.name = "GpuValidationError";
    this.kind = kind;
  }
}
