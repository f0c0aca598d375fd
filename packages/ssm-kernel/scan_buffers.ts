/**
 * The caller-owned GPU buffer records of the selective scan (f32, row-major, STORAGE usage),
 * one per pass, shared by {@linkcode SelectiveScan} and the host core both scans run on.
 *
 * @module
 */

/**
 * Elements (f32) each caller-owned buffer of a scan must hold, by role: the inputs, and `out`
 * (the cross-scan's `y`). Each gradient has its input's count, the output gradient `out`'s.
 */
export interface ScanBufferSizes {
  /** `u`. */
  u: number;
  /** `delta`. */
  delta: number;
  /** `A`. */
  A: number;
  /** `B` (the cross-scan: up to the last record of its slot). */
  B: number;
  /** `C` (the cross-scan: up to the last record of its slot). */
  C: number;
  /** `D`. */
  D: number;
  /** `delta_bias`. */
  deltaBias: number;
  /** The output (`out`, or the cross-scan's `y`). */
  out: number;
}

/** The scan's inputs, read by the forward and the backward alike. */
export interface ScanInputBuffers {
  /** `u (B, G·D, L)`. */
  u: GPUBuffer;
  /** `delta (B, G·D, L)`, pre-bias, pre-softplus. */
  delta: GPUBuffer;
  /** `A (G·D, N)`. */
  A: GPUBuffer;
  /** `B (B, G, N, L)`. */
  B: GPUBuffer;
  /** `C (B, G, N, L)`. */
  C: GPUBuffer;
  /** `D (G·D)`. */
  D: GPUBuffer;
  /** `delta_bias (G·D)`. */
  deltaBias: GPUBuffer;
}

/**
 * Gradients read back to the host by the one-shot convenience functions (`selectiveScan`,
 * `crossScan2d`), each in its input's layout.
 */
export type ScanGradientArrays = Record<
  "du" | "ddelta" | "dA" | "dB" | "dC" | "dD" | "dDeltaBias",
  Float32Array
>;

/** Caller-owned buffers of the forward. */
export interface SelectiveScanForwardBuffers extends ScanInputBuffers {
  /** Output `out (B, G·D, L)`. */
  out: GPUBuffer;
  /**
   * Chunk-boundary states for the backward, at least `stateBytes` bytes. Omit it when no
   * backward follows (inference): the forward then skips the checkpoint stores.
   */
  state?: GPUBuffer;
}

/** Caller-owned buffers of the backward; every gradient buffer is overwritten. */
export interface SelectiveScanBackwardBuffers extends ScanInputBuffers {
  /** The `state` the forward wrote for these inputs. */
  state: GPUBuffer;
  /** `dout (B, G·D, L)`. */
  dout: GPUBuffer;
  /** Output `du (B, G·D, L)`. */
  du: GPUBuffer;
  /** Output `ddelta (B, G·D, L)` (gradient of the pre-bias delta). */
  ddelta: GPUBuffer;
  /** Output `dA (G·D, N)`. */
  dA: GPUBuffer;
  /** Output `dB (B, G, N, L)`. */
  dB: GPUBuffer;
  /** Output `dC (B, G, N, L)`. */
  dC: GPUBuffer;
  /** Output `dD (G·D)`. */
  dD: GPUBuffer;
  /** Output `d_delta_bias (G·D)`. */
  dDeltaBias: GPUBuffer;
}
