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
    let encode: (e: GPUCommandEncoder) => void;
    let destroy: () => void;
    if (isCross(shape)) {
      const scan = new CrossScan2d(device, shape, { ...options, forward });
      const { batch, height, width, channels: Di, dState: N, bSlot, cSlot } = scan.shape;
      const L = height * width;
      const slot = (s: { offset: number; stride: number }) => s.offset + batch * L * 4 * s.stride;
      const b = {
        u: buf(batch * L * Di),
        delta: buf(batch * L * 4 * Di),
        B: buf(slot(bSlot)),
        C: buf(slot(cSlot)),
        A: buf(4 * Di * N),
        D: buf(4 * Di),
        deltaBias: buf(4 * Di),
        y: buf(batch * L * Di),
        state: buf(scan.stateBytes / 4),
      };
      encode = (e) => scan.encodeForward(e, b);
      destroy = () => scan.destroy();
    } else {
      const scan = new SelectiveScan(device, shape, { ...options, forward });
      const { batch, groups: G, channelsPerGroup: Dg, length: L, dState: N } = shape;
      const b = {
        u: buf(batch * G * Dg * L),
        delta: buf(batch * G * Dg * L),
        A: buf(G * Dg * N),
        B: buf(batch * G * N * L),
        C: buf(batch * G * N * L),
        D: buf(G * Dg),
        deltaBias: buf(G * Dg),
        out: buf(batch * G * Dg * L),
        state: buf(scan.stateBytes / 4),
      };
      encode = (e) => scan.encodeForward(e, b);
      destroy = () => scan.destroy();
    }
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
    destroy();
    for (const b of made) b.destroy();
  }
  return {
    forward: msPerCall["serial-row"] <= msPerCall["workgroup-scan"]
      ? "serial-row"
      : "workgroup-scan",
    msPerCall,
  };
}
