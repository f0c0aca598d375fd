/**
 * The page's one WebGPU engine, created on first use, with a readable error when the browser
 * has no WebGPU.
 *
 * @module
 */

import { Engine } from "@vmunet/tensor";

/** Raised when the browser offers no WebGPU adapter. */
export class NoWebGpuError extends Error {
  /** Creates the error. */
  constructor(detail: string) {
    super(
      `this browser offers no WebGPU (${detail}). Open the page in a browser with WebGPU ` +
        `(Chrome or Edge 113+, Safari 26, Firefox 141+; on Linux Chrome may need ` +
        `--enable-unsafe-webgpu) from http://localhost or https (a secure context).`,
    );
    this.name = "NoWebGpuError";
  }
}

let engine: Promise<Engine> | null = null;

/**
 * The shared engine.
 *
 * @returns The engine (created once).
 * @throws {NoWebGpuError} without WebGPU.
 */
export function getEngine(): Promise<Engine> {
  if (!engine) {
    engine = (async () => {
      if (!("gpu" in navigator) || !navigator.gpu) {
        throw new NoWebGpuError("navigator.gpu is missing");
      }
      try {
        return await Engine.create();
      } catch (error) {
        throw new NoWebGpuError((error as Error).message);
      }
    })();
    engine.catch(() => (engine = null));
  }
  return engine;
}

/** One line naming the adapter and the features the kernels use. */
export function adapterLine(e: Engine): string {
  const a = e.gpu.adapterInfo;
  const name = a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(" ");
  const features = ["subgroups", "shader-f16", "timestamp-query"].filter((f) =>
    e.gpu.features.has(f)
  );
  return `${name || "unknown adapter"}${a.isFallbackAdapter ? " (software adapter)" : ""}` +
    ` — ${features.join(", ") || "no optional features"}`;
}
