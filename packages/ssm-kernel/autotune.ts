/**
 * Measurement-based choice of the forward variant for one shape on one device.
 *
 * @module
 */

import { CrossScan2d, type CrossScan2dShape } from "./cross_scan.ts";
import {
  type ScanKernelOptions,
  SelectiveScan,
  type SelectiveScanShape,
} from "./selective_scan.ts";

/** What {@linkcode autotuneForward} measured and picked. */
export interface AutotuneResult {
  /** The faster forward variant. */
  forward: "serial-row" | "workgroup-scan";
  /** Milliseconds per forward call of each variant (wall clock over `reps` calls). */
  msPerCall: Record<"serial-row" | "workgroup-scan", number>;
}

function isCross(s: SelectiveScanShape | CrossScan2dShape): s is CrossScan2dShape {
  return (s as CrossScan2dShape).height !== undefined;
}

/**
 * Times both forward variants on scratch buffers of the shape and returns the faster one;
 * pass it back as `options.forward`. A generic shape has `groups`, a cross-scan shape `height`.
 *
 * @param device The WebGPU device.
 * @param shape A {@linkcode SelectiveScanShape} or {@linkcode CrossScan2dShape}.
 * @param options Other tuning options (kept for both candidates).
 * @param reps Calls timed per variant after one warm-up call.
 * @returns The choice and the measured times.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { autotuneForward } from "@vmunet/ssm-kernel";
 * const adapter = await navigator.gpu.requestAdapter();
 * const device = await adapter!.requestDevice({
 *   requiredLimits: { maxStorageBuffersPerShaderStage: adapter!.limits.maxStorageBuffersPerShaderStage },
 * });
 * const r = await autotuneForward(device, { batch: 1, groups: 1, channelsPerGroup: 8, length: 64, dState: 4 });
 * assert.ok(r.forward === "serial-row" || r.forward === "workgroup-scan");
 * assert.ok(r.msPerCall[r.forward] > 0);
 * device.destroy();
 * ```
 */
export async function autotuneForward(
  device: GPUDevice,
  shape: SelectiveScanShape | CrossScan2dShape,
  options: ScanKernelOptions = {},
  reps = 3,
): Promise<AutotuneResult> {
  const msPerCall = { "serial-row": 0, "workgroup-scan": 0 };
  for (const forward of ["serial-row", "workgroup-scan"] as const) {
    const made: GPUBuffer[] = [];
    const buf = (floats: number) => {
      const b = device.createBuffer({
        size: Math.max(16, Math.ceil(floats) * 4),
        usage: GPUBufferUsage.STORAGE,
      });
      made.push(b);
      return b;
    };
    const o = { ...options, forward };
    const scan = isCross(shape)
      ? new CrossScan2d(device, shape, o)
      : new SelectiveScan(device, shape, o);
    const s = scan.sizes;
    const inputs = {
      u: buf(s.u),
      delta: buf(s.delta),
      A: buf(s.A),
      B: buf(s.B),
      C: buf(s.C),
      D: buf(s.D),
      deltaBias: buf(s.deltaBias),
    };
    const out = buf(s.out);
    const state = buf(scan.stateBytes / 4);
    const encode = (e: GPUCommandEncoder) =>
      scan instanceof CrossScan2d
        ? scan.encodeForward(e, { ...inputs, y: out, state })
        : scan.encodeForward(e, { ...inputs, out, state });
    const warm = device.createCommandEncoder();
    encode(warm);
    device.queue.submit([warm.finish()]);
    await device.queue.onSubmittedWorkDone();
    const t0 = performance.now();
    const enc = device.createCommandEncoder();
    for (let i = 0; i < reps; i++) encode(enc);
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    msPerCall[forward] = (performance.now() - t0) / reps;
    scan.destroy();
    for (const b of made) b.destroy();
  }
  return {
    forward: msPerCall["serial-row"] <= msPerCall["workgroup-scan"]
      ? "serial-row"
      : "workgroup-scan",
    msPerCall,
  };
}
