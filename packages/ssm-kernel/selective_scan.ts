/**
 * The selective scan in mamba's layout: `u, delta (B, G·D, L)`, `A (G·D, N)`,
 * `B, C (B, G, N, L)`, `D, delta_bias (G·D)`, `delta_softplus = true`.
 *
 * @module
 */

import { ScanCore } from "./_core.ts";
import { probeSubgroupsDirective } from "@vmunet/wgsl";
import { type ScanKernelPlan, scanPlan } from "./_plan.ts";
import { kernelDims, type KernelLayout, type KernelTuning } from "./_wgsl_header.ts";
import { runScanOnce } from "./_io.ts";
import type {
  ScanBufferSizes,
  ScanGradientArrays,
  SelectiveScanBackwardBuffers,
  SelectiveScanForwardBuffers,
} from "./scan_buffers.ts";
import type { ScanReferenceInputs } from "./reference.ts";
import { positiveInt, resolveTuning, type ScanKernelOptions } from "./_tuning.ts";

export type { ScanKernelOptions } from "./_tuning.ts";
export type { ScanKernelPlan } from "./_plan.ts";
export type {
  ScanBufferSizes,
  ScanGradientArrays,
  ScanInputBuffers,
  SelectiveScanBackwardBuffers,
  SelectiveScanForwardBuffers,
} from "./scan_buffers.ts";

/** Shape of a generic-layout scan. */
export interface SelectiveScanShape {
  /** Batch size B. */
  batch: number;
  /** Number of B/C groups G (channel c uses group c div D). */
  groups: number;
  /** Channels per group D. */
  channelsPerGroup: number;
  /** Sequence length L (any L ≥ 1). */
  length: number;
  /** State size N. */
  dState: number;
}

/**
 * Compiled selective-scan kernels for one shape: encodes forward and backward into a
 * caller's command encoder over caller-owned buffers. The device must allow 9 storage
 * buffers per shader stage (WebGPU's default is 8: request `maxStorageBuffersPerShaderStage`
 * from the adapter).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SelectiveScan } from "@vmunet/ssm-kernel";
 * const adapter = await navigator.gpu.requestAdapter();
 * const device = await adapter!.requestDevice({
 *   requiredLimits: { maxStorageBuffersPerShaderStage: adapter!.limits.maxStorageBuffersPerShaderStage },
 * });
 * const scan = new SelectiveScan(device, { batch: 1, groups: 1, channelsPerGroup: 4, length: 8, dState: 4 });
 * assert.equal(typeof scan.variant, "string"); // e.g. "serial-row wg64 chunk32"
 * assert.ok(scan.stateBytes > 0); // allocate the checkpoint buffer with this size
 * scan.destroy();
 * device.destroy();
 * ```
 */
export class SelectiveScan {
  /** The shape this instance was compiled for. */
  readonly shape: Readonly<SelectiveScanShape>;
  /** Bytes the `state` buffer must have. */
  readonly stateBytes: number;
  /** Which kernel variant and tuning the rule picked, e.g. `serial-row wg64 chunk32`. */
  readonly variant: string;
  /** Elements each buffer must hold (gradients: their input's; `dout`: `out`'s). */
  readonly sizes: Readonly<ScanBufferSizes>;
  #core: ScanCore;

  /**
   * Validates the shape and compiles the pipelines.
   *
   * @param device The WebGPU device.
   * @param shape The scan shape.
   * @param options Tuning overrides.
   */
  constructor(device: GPUDevice, shape: SelectiveScanShape, options: ScanKernelOptions = {}) {
    const c = genericConfig(shape, options, device.limits.maxStorageBufferBindingSize);
    this.shape = { ...shape };
    this.variant = c.variant;
    this.#core = new ScanCore(device, c.layout, c.tuning, c.sizes, LABEL);
    this.sizes = c.sizes;
    this.stateBytes = this.#core.stateBytes;
  }

  /**
   * Encodes the forward: writes `out` and the chunk-boundary `state`.
   *
   * @param encoder The caller's command encoder.
   * @param buffers The input, output and state buffers.
   */
  encodeForward(encoder: GPUCommandEncoder, buffers: SelectiveScanForwardBuffers): void {
    this.#core.encodeForward(encoder, buffers, "out");
  }

  /**
   * Encodes the backward: writes every gradient of `sum(out · dout)`.
   *
   * @param encoder The caller's command encoder.
   * @param buffers Inputs, the forward's `state`, `dout` and the gradient outputs.
   */
  encodeBackward(encoder: GPUCommandEncoder, buffers: SelectiveScanBackwardBuffers): void {
    this.#core.encodeBackward(encoder, { ...buffers }, {
      dout: "dout",
      du: "du",
      dB: this.sizes.B,
      dC: this.sizes.C,
    });
  }

  /**
   * The launch plan of this configuration: every kernel of the forward, the backward and
   * the inference forward with its workgroup size, workgroups and invocations per dispatch.
   *
   * @returns One line per kernel.
   */
  plan(): ScanKernelPlan[] {
    return this.#core.plan();
  }

  /** Frees the internal scratch buffers. */
  destroy(): void {
    this.#core.destroy();
  }
}

const LABEL = "SelectiveScan";

/** Layout, tuning and buffer sizes of a generic-layout shape (validated). */
function genericConfig(
  shape: SelectiveScanShape,
  options: ScanKernelOptions,
  maxBindingBytes: number,
): { layout: KernelLayout; tuning: KernelTuning; sizes: ScanBufferSizes; variant: string } {
  for (const k of ["batch", "groups", "channelsPerGroup", "length", "dState"] as const) {
    positiveInt(LABEL, k, shape[k]);
  }
  const { batch, groups: G, channelsPerGroup: Dg, length: L, dState: N } = shape;
  const tuning = resolveTuning(
    LABEL,
    Dg,
    G * batch,
    L,
    (batch * G * Dg) * Math.ceil(N / 4) * 16,
    maxBindingBytes,
    options,
    N,
  );
  const CH = G * Dg;
  return {
    layout: {
      kind: "generic",
      batch,
      length: L,
      channels: Dg,
      dState: N,
      groups: G,
      height: 0,
      width: 0,
      bOffset: 0,
      bStride: 0,
      cOffset: 0,
      cStride: 0,
    },
    tuning: { ...tuning, serialGroups: 1 },
    variant: tuning.description,
    sizes: {
      u: batch * CH * L,
      delta: batch * CH * L,
      A: CH * N,
      B: batch * G * N * L,
      C: batch * G * N * L,
      D: CH,
      deltaBias: CH,
      out: batch * CH * L,
    },
  };
}

/**
 * The launch plan of a generic-layout scan without a device (as
 * {@linkcode SelectiveScan.plan}): what each kernel launches per dispatch.
 *
 * @param shape The scan shape.
 * @param options Kernel options (`fallbackAdapter: false` for the GPU family).
 * @param maxBindingBytes The device's `maxStorageBufferBindingSize` (the CPU family's chunk
 *   length depends on it); default 2³¹.
 * @returns One line per kernel of the forward, the backward and the inference forward.
 * @example
 * ```ts
 * import { selectiveScanPlan } from "@vmunet/ssm-kernel";
 * const plan = selectiveScanPlan(
 *   { batch: 1, groups: 4, channelsPerGroup: 192, length: 4096, dState: 16 },
 *   { fallbackAdapter: false },
 * );
 * const least = Math.min(...plan.map((p) => p.invocations));
 * if (least < 100_000) throw new Error(`only ${least} invocations`);
 * ```
 */
export function selectiveScanPlan(
  shape: SelectiveScanShape,
  options: ScanKernelOptions = {},
  maxBindingBytes: number = 2 ** 31,
): ScanKernelPlan[] {
  const c = genericConfig(shape, options, maxBindingBytes);
  return scanPlan(c.layout, c.tuning, kernelDims(c.layout, c.tuning), false);
}

/**
 * Inputs of {@linkcode selectiveScan}: the shape and host arrays in the generic layout, the
 * same record the float64 reference takes.
 */
export type SelectiveScanInputs = ScanReferenceInputs;

/** Result of {@linkcode selectiveScan}. */
export interface SelectiveScanResult {
  /** `out (B, G·D, L)`. */
  out: Float32Array;
  /** Gradients, when `dout` was given. */
  grads?: ScanGradientArrays;
}

/**
 * Uploads the arrays, runs the forward (and the backward when `dout` is given) and reads the
 * results back. For tests and fixtures; models should use {@linkcode SelectiveScan}.
 *
 * @param device The WebGPU device.
 * @param x Shape and inputs.
 * @param dout Optional `dout (B, G·D, L)`.
 * @param options Tuning overrides.
 * @returns `out` and, with `dout`, the gradients.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectiveScan } from "@vmunet/ssm-kernel";
 * const adapter = await navigator.gpu.requestAdapter();
 * const device = await adapter!.requestDevice({
 *   requiredLimits: { maxStorageBuffersPerShaderStage: adapter!.limits.maxStorageBuffersPerShaderStage },
 * });
 * const r = await selectiveScan(device, {
 *   batch: 1, groups: 1, channelsPerGroup: 1, length: 2, dState: 1,
 *   u: [1, 1], delta: [0, 0], A: [-1], B: [1, 1], C: [1, 1], D: [0], deltaBias: [0],
 * });
 * assert.ok(Math.abs(r.out[0] - Math.LN2) < 1e-5 && Math.abs(r.out[1] - 1.5 * Math.LN2) < 1e-5);
 * device.destroy();
 * ```
 */
export async function selectiveScan(
  device: GPUDevice,
  x: SelectiveScanInputs,
  dout?: ArrayLike<number>,
  options: ScanKernelOptions = {},
): Promise<SelectiveScanResult> {
  if (options.subgroups) await probeSubgroupsDirective(device);
  const scan = new SelectiveScan(device, x, options);
  const r = await runScanOnce(
    device,
    "selectiveScan",
    scan,
    {
      u: [x.u, "B·G·D·L"],
      delta: [x.delta, "B·G·D·L"],
      A: [x.A, "G·D·N"],
      B: [x.B, "B·G·N·L"],
      C: [x.C, "B·G·N·L"],
      D: [x.D, "G·D"],
      deltaBias: [x.deltaBias, "G·D"],
    },
    dout ? ["dout", dout, "B·G·D·L"] : undefined,
    {
      forward: (e, i, out, state) => scan.encodeForward(e, { ...(i as Inputs), out, state }),
      backward: (e, i, state, d, g) =>
        scan.encodeBackward(e, { ...(i as Inputs), state, dout: d, ...(g as Grads) }),
    },
  );
  return { out: r.out, grads: r.grads };
}

type Inputs = Omit<SelectiveScanForwardBuffers, "out" | "state">;
type Grads = Omit<SelectiveScanBackwardBuffers, keyof Inputs | "state" | "dout">;
