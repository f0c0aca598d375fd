/**
 * SS2D's four-direction 2D selective scan on a channels-last feature map, without
 * materialising flipped or transposed copies: each direction reads `u`, `delta`, `B`, `C`
 * by index mapping, and the four outputs are merged into `y` at natural positions.
 *
 * Directions (L = H·W, natural position p = h·W + w, scan position t):
 * k0 p = t; k1 column-major p = (t mod H)·W + (t div H); k2 = k0 reversed (t → L−1−t);
 * k3 = k1 reversed. Channel c = k·Di + d uses `A[c]`, `D[c]`, `delta_bias[c]` and B/C group k.
 *
 * @module
 */

import { ScanCore } from "./_core.ts";
import { probeSubgroupsDirective } from "@vmunet/wgsl";
import { type ScanKernelPlan, scanPlan } from "./_plan.ts";
import { kernelDims, type KernelLayout, type KernelTuning } from "./_wgsl_header.ts";
import { runScanOnce } from "./_io.ts";
import type { CrossScanReferenceInputs } from "./reference.ts";
import type { ScanBufferSizes, ScanGradientArrays } from "./scan_buffers.ts";
import { positiveInt, resolveTuning, type ScanKernelOptions } from "./_tuning.ts";
import { ScanShapeError } from "./errors.ts";

/** Where B or C lives inside a packed channels-last buffer: element `(b, p, k, n)` is at `offset + ((b·L + p)·4 + k)·stride + n`. */
export interface PackedSlot {
  /** Element offset of `(0, 0, 0, 0)`. */
  offset: number;
  /** Elements between consecutive `(p, k)` records (≥ N). */
  stride: number;
}

/** Shape of a cross-scan. */
export interface CrossScan2dShape {
  /** Batch size B. */
  batch: number;
  /** Feature-map height H. */
  height: number;
  /** Feature-map width W. */
  width: number;
  /** Inner channels Di (per direction). */
  channels: number;
  /** State size N. */
  dState: number;
  /** Slot of B; default `{ offset: 0, stride: N }` (a dense `(B, H, W, 4, N)` buffer). For x_dbl `(B,H,W,4,R+2N)`: `{ offset: R, stride: R + 2N }`. */
  bSlot?: PackedSlot;
  /** Slot of C; default `{ offset: 0, stride: N }`. For x_dbl: `{ offset: R + N, stride: R + 2N }`. */
  cSlot?: PackedSlot;
  /**
   * Slot and count R of the dt rows, for {@linkcode CrossScan2d.encodeForwardProjected}
   * (x_dbl: `{ offset: 0, stride: R + 2N, rank: R }`).
   */
  dtSlot?: PackedSlot & { rank: number };
}

/**
 * Buffers of {@linkcode CrossScan2d.encodeForwardProjected}: those of the forward with the
 * dt rows and the dt-projection weight in place of `delta`, and no `state`.
 */
export interface CrossScan2dProjectedForwardBuffers
  extends Omit<CrossScan2dForwardBuffers, "delta" | "state"> {
  /** Holds the dt rows at `dtSlot` (may be the same buffer as `B` and `C`, e.g. x_dbl). */
  dt: GPUBuffer;
  /** `dt_projs_weight (4, Di, R)`. */
  dtWeight: GPUBuffer;
}

/** The cross-scan's inputs (f32, STORAGE usage), read by the forward and the backward alike. */
export interface CrossScan2dInputBuffers {
  /** `u (B, H, W, Di)`, shared by the four directions. */
  u: GPUBuffer;
  /** `delta (B, H, W, 4, Di)`, pre-bias, pre-softplus. */
  delta: GPUBuffer;
  /** Holds B at `bSlot` (may be the same buffer as `C`, e.g. x_dbl). */
  B: GPUBuffer;
  /** Holds C at `cSlot`. */
  C: GPUBuffer;
  /** `A (4·Di, N)` (= −exp(A_logs)). */
  A: GPUBuffer;
  /** `D (4·Di)`. */
  D: GPUBuffer;
  /** `delta_bias (4·Di)`. */
  deltaBias: GPUBuffer;
}

/** Caller-owned buffers of the cross-scan forward. */
export interface CrossScan2dForwardBuffers extends CrossScan2dInputBuffers {
  /** Output `y (B, H, W, Di)`: the sum of the four directions at natural positions. */
  y: GPUBuffer;
  /**
   * Chunk-boundary states for the backward, at least `stateBytes` bytes. Omit it when no
   * backward follows (inference): the forward then skips the checkpoint stores.
   */
  state?: GPUBuffer;
}

/** Caller-owned buffers of the cross-scan backward. */
export interface CrossScan2dBackwardBuffers extends CrossScan2dInputBuffers {
  /** The `state` the forward wrote for these inputs. */
  state: GPUBuffer;
  /** `dy (B, H, W, Di)`. */
  dy: GPUBuffer;
  /** Output `du (B, H, W, Di)` (sum over the directions), overwritten. */
  du: GPUBuffer;
  /** Output `ddelta (B, H, W, 4, Di)`, overwritten. */
  ddelta: GPUBuffer;
  /** Output: dB written at `bSlot` (other elements untouched; may be the same buffer as `dC`). */
  dB: GPUBuffer;
  /** Output: dC written at `cSlot`. */
  dC: GPUBuffer;
  /** Output `dA (4·Di, N)`, overwritten. */
  dA: GPUBuffer;
  /** Output `dD (4·Di)`, overwritten. */
  dD: GPUBuffer;
  /** Output `d_delta_bias (4·Di)`, overwritten. */
  dDeltaBias: GPUBuffer;
}

function slotSize(batch: number, L: number, N: number, s: PackedSlot): number {
  return s.offset + (batch * L * 4 - 1) * s.stride + N;
}

/**
 * Compiled four-direction cross-scan kernels for one shape. One invocation per
 * (batch, channel) walks the four directions in turn, accumulating `y` and `du` in place.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CrossScan2d } from "@vmunet/ssm-kernel";
 * const adapter = await navigator.gpu.requestAdapter();
 * const device = await adapter!.requestDevice({
 *   requiredLimits: { maxStorageBuffersPerShaderStage: adapter!.limits.maxStorageBuffersPerShaderStage },
 * });
 * const R = 2, N = 4;
 * const scan = new CrossScan2d(device, {
 *   batch: 1, height: 3, width: 5, channels: 8, dState: N,
 *   bSlot: { offset: R, stride: R + 2 * N }, cSlot: { offset: R + N, stride: R + 2 * N },
 * });
 * assert.equal(typeof scan.variant, "string"); // e.g. "serial-row wg64 chunk32"
 * assert.ok(scan.stateBytes > 0); // allocate the checkpoint buffer with this size
 * scan.destroy();
 * device.destroy();
 * ```
 */
export class CrossScan2d {
  /** The shape (with resolved slots) this instance was compiled for. */
  readonly shape: Readonly<
    Required<Omit<CrossScan2dShape, "dtSlot">> & Pick<CrossScan2dShape, "dtSlot">
  >;
  /** Bytes the `state` buffer must have. */
  readonly stateBytes: number;
  /** Which kernel variant and tuning the rule picked. */
  readonly variant: string;
  /** Elements each buffer must hold (`out`: `y`'s; gradients: their input's; `dy`: `y`'s). */
  readonly sizes: Readonly<ScanBufferSizes>;
  #core: ScanCore;

  /**
   * Validates the shape and compiles the pipelines.
   *
   * @param device The WebGPU device.
   * @param shape The feature-map shape and the B/C slots.
   * @param options Tuning overrides.
   */
  constructor(device: GPUDevice, shape: CrossScan2dShape, options: ScanKernelOptions = {}) {
    const c = crossConfig(shape, options, device.limits.maxStorageBufferBindingSize);
    this.shape = c.shape;
    this.variant = c.variant;
    this.sizes = c.sizes;
    this.#core = new ScanCore(device, c.layout, c.tuning, c.sizes, LABEL, c.channelMajor);
    this.stateBytes = this.#core.stateBytes;
  }

  /**
   * Encodes the forward: writes `y` (the merged sum) and `state`.
   *
   * @param encoder The caller's command encoder.
   * @param buffers Inputs, `y` and `state`.
   */
  encodeForward(encoder: GPUCommandEncoder, buffers: CrossScan2dForwardBuffers): void {
    this.#core.encodeForward(encoder, { ...buffers, out: buffers.y }, "y");
  }

  /**
   * Encodes an inference forward that computes `delta[p, k, d] = Σ_r dtWeight[k, d, r] ·
   * dt[p, k, r]` inside the scan (SS2D's four dt projections) instead of reading a `delta`
   * buffer, and stores no checkpoints. Needs `dtSlot` in the shape.
   *
   * @param encoder The caller's command encoder.
   * @param buffers Inputs with the dt rows and weight, and `y`.
   * @throws {ScanShapeError} when the shape has no `dtSlot` or a buffer is too small.
   */
  encodeForwardProjected(
    encoder: GPUCommandEncoder,
    buffers: CrossScan2dProjectedForwardBuffers,
  ): void {
    const slot = this.shape.dtSlot;
    if (!slot) {
      throw new ScanShapeError("CrossScan2d: encodeForwardProjected needs dtSlot in the shape");
    }
    const { batch, height, width } = this.shape;
    this.#core.encodeForwardProjected(
      encoder,
      { ...buffers, out: buffers.y },
      slot,
      slotSize(batch, height * width, slot.rank, slot),
      "y",
    );
  }

  /**
   * Encodes the backward of `sum(y · dy)`.
   *
   * @param encoder The caller's command encoder.
   * @param buffers Inputs, the forward's `state`, `dy` and the gradient outputs.
   */
  encodeBackward(encoder: GPUCommandEncoder, buffers: CrossScan2dBackwardBuffers): void {
    this.#core.encodeBackward(encoder, { ...buffers, dout: buffers.dy }, {
      dout: "dy",
      du: "du",
      dB: this.sizes.B,
      dC: this.sizes.C,
    });
  }

  /**
   * The launch plan of this configuration: every kernel of the forward, the backward and
   * the inference forward (what SS2D runs without the tape) with its workgroup size,
   * workgroups and invocations per dispatch.
   *
   * @returns One line per kernel.
   */
  plan(): ScanKernelPlan[] {
    return this.#core.plan(projectedSlot(this.#core.tuning, this.shape.dtSlot));
  }

  /** Frees the internal scratch buffers. */
  destroy(): void {
    this.#core.destroy();
  }
}

const LABEL = "CrossScan2d";

/** The dt rows the inference forward projects Δ from: the CPU family's, when the shape has them. */
function projectedSlot(
  t: KernelTuning,
  dtSlot: CrossScan2dShape["dtSlot"],
): CrossScan2dShape["dtSlot"] {
  return t.forward === "chunked" ? undefined : dtSlot;
}

/** Everything a cross-scan shape resolves to (validated). */
interface CrossConfig {
  shape: CrossScan2d["shape"];
  layout: KernelLayout;
  tuning: KernelTuning;
  sizes: ScanBufferSizes;
  channelMajor: boolean;
  variant: string;
}

function crossConfig(
  shape: CrossScan2dShape,
  options: ScanKernelOptions,
  maxBindingBytes: number,
): CrossConfig {
  const label = LABEL;
  for (const k of ["batch", "height", "width", "channels", "dState"] as const) {
    positiveInt(label, k, shape[k]);
  }
  const { batch, height: H, width: W, channels: Di, dState: N } = shape;
  const bSlot = shape.bSlot ?? { offset: 0, stride: N };
  const cSlot = shape.cSlot ?? { offset: 0, stride: N };
  for (const [name, s] of [["bSlot", bSlot], ["cSlot", cSlot]] as const) {
    if (
      !Number.isInteger(s.offset) || s.offset < 0 || !Number.isInteger(s.stride) || s.stride < N
    ) {
      throw new ScanShapeError(
        `${label}: ${name} {offset: ${s.offset}, stride: ${s.stride}} must have an integer offset ≥ 0 and stride ≥ dState ${N}`,
      );
    }
  }
  const dtSlot = shape.dtSlot;
  if (
    dtSlot &&
    (!Number.isInteger(dtSlot.rank) || dtSlot.rank < 1 || !Number.isInteger(dtSlot.offset) ||
      dtSlot.offset < 0 || !Number.isInteger(dtSlot.stride) || dtSlot.stride < dtSlot.rank)
  ) {
    throw new ScanShapeError(
      `${label}: dtSlot {offset: ${dtSlot.offset}, stride: ${dtSlot.stride}, rank: ${dtSlot.rank}} must have an integer rank ≥ 1, offset ≥ 0 and stride ≥ rank`,
    );
  }
  const L = H * W;
  const tuning = resolveTuning(
    label,
    Di,
    batch,
    L,
    (batch * 4 * Di) * Math.ceil(N / 4) * 16,
    maxBindingBytes,
    options,
    N,
  );
  const chunked = tuning.forward === "chunked";
  // The chunked family walks the channels-last maps (coalesced on GPUs): no copies.
  const channelMajor = !chunked &&
    (options.channelMajorBackward ?? options.fallbackAdapter !== false);
  return {
    shape: { batch, height: H, width: W, channels: Di, dState: N, bSlot, cSlot, dtSlot },
    layout: {
      kind: "cross",
      batch,
      length: L,
      channels: Di,
      dState: N,
      groups: 4,
      height: H,
      width: W,
      bOffset: bSlot.offset,
      bStride: bSlot.stride,
      cOffset: cSlot.offset,
      cStride: cSlot.stride,
    },
    tuning: { ...tuning, serialGroups: 4 },
    sizes: {
      u: batch * L * Di,
      delta: batch * L * 4 * Di,
      A: 4 * Di * N,
      B: slotSize(batch, L, N, bSlot),
      C: slotSize(batch, L, N, cSlot),
      D: 4 * Di,
      deltaBias: 4 * Di,
      out: batch * L * Di,
    },
    channelMajor,
    variant: `${tuning.description} ${
      chunked ? "one-apply-dispatch-per-direction" : "4-directions-in-invocation"
    }${channelMajor ? " channel-major-backward" : ""}`,
  };
}

/**
 * The launch plan of a cross-scan without a device (as {@linkcode CrossScan2d.plan}).
 * Its inference lines are what SS2D runs without the tape: the CPU family's forward that
 * projects Δ itself (when the shape has `dtSlot`), the GPU family's forward without
 * checkpoints (fed a Δ tensor).
 *
 * @param shape The cross-scan shape.
 * @param options Kernel options (`fallbackAdapter: false` for the GPU family).
 * @param maxBindingBytes The device's `maxStorageBufferBindingSize`; default 2³¹.
 * @returns One line per kernel of the forward, the backward and the inference forward.
 * @example
 * ```ts
 * import { crossScan2dPlan } from "@vmunet/ssm-kernel";
 * const plan = crossScan2dPlan(
 *   { batch: 1, height: 64, width: 64, channels: 192, dState: 16 },
 *   { fallbackAdapter: false },
 * );
 * const least = Math.min(...plan.map((p) => p.invocations));
 * if (least < 100_000) throw new Error(`only ${least} invocations`);
 * ```
 */
export function crossScan2dPlan(
  shape: CrossScan2dShape,
  options: ScanKernelOptions = {},
  maxBindingBytes: number = 2 ** 31,
): ScanKernelPlan[] {
  const c = crossConfig(shape, options, maxBindingBytes);
  return scanPlan(
    c.layout,
    c.tuning,
    kernelDims(c.layout, c.tuning),
    c.channelMajor,
    projectedSlot(c.tuning, c.shape.dtSlot),
  );
}

/**
 * Host inputs of {@linkcode crossScan2d} (B and C densely packed `(B, H, W, 4, N)`), the same
 * record the float64 reference takes.
 */
export type CrossScan2dInputs = CrossScanReferenceInputs;

/** Result of {@linkcode crossScan2d}. */
export interface CrossScan2dResult {
  /** `y (B, H, W, Di)`. */
  y: Float32Array;
  /** Gradients when `dy` was given, in the input layouts. */
  grads?: ScanGradientArrays;
}

/**
 * Uploads, runs the cross-scan forward (and backward with `dy`) and reads back; for tests.
 *
 * @param device The WebGPU device.
 * @param x Shape and host inputs.
 * @param dy Optional `dy (B, H, W, Di)`.
 * @param options Tuning overrides.
 * @returns `y` and, with `dy`, the gradients.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crossScan2d } from "@vmunet/ssm-kernel";
 * const adapter = await navigator.gpu.requestAdapter();
 * const device = await adapter!.requestDevice({
 *   requiredLimits: { maxStorageBuffersPerShaderStage: adapter!.limits.maxStorageBuffersPerShaderStage },
 * });
 * const r = await crossScan2d(device, {
 *   batch: 1, height: 1, width: 1, channels: 1, dState: 1,
 *   u: [1], delta: [0, 0, 0, 0], B: [0, 0, 0, 0], C: [0, 0, 0, 0],
 *   A: [-1, -1, -1, -1], D: [1, 1, 1, 1], deltaBias: [0, 0, 0, 0],
 * });
 * assert.equal(r.y[0], 4); // four directions, each D·u
 * device.destroy();
 * ```
 */
export async function crossScan2d(
  device: GPUDevice,
  x: CrossScan2dInputs,
  dy?: ArrayLike<number>,
  options: ScanKernelOptions = {},
): Promise<CrossScan2dResult> {
  if (options.subgroups) await probeSubgroupsDirective(device);
  const scan = new CrossScan2d(device, x, options);
  const r = await runScanOnce(
    device,
    "crossScan2d",
    scan,
    {
      u: [x.u, "B·H·W·Di"],
      delta: [x.delta, "B·H·W·4·Di"],
      B: [x.B, "B·H·W·4·N"],
      C: [x.C, "B·H·W·4·N"],
      A: [x.A, "4·Di·N"],
      D: [x.D, "4·Di"],
      deltaBias: [x.deltaBias, "4·Di"],
    },
    dy ? ["dy", dy, "B·H·W·Di"] : undefined,
    {
      forward: (e, i, y, state) => scan.encodeForward(e, { ...(i as Inputs), y, state }),
      backward: (e, i, state, d, g) =>
        scan.encodeBackward(e, { ...(i as Inputs), state, dy: d, ...(g as Grads) }),
    },
  );
  return { y: r.out, grads: r.grads };
}

type Inputs = Omit<CrossScan2dForwardBuffers, "y" | "state">;
type Grads = Omit<CrossScan2dBackwardBuffers, keyof Inputs | "state" | "dy">;
