/**
 * The rule that picks launch parameters per adapter and shape.
 *
 * @module
 */

import { ScanShapeError } from "./errors.ts";

/** Options shared by the scan kernels. */
export interface ScanKernelOptions {
  /**
   * Whether subgroup operations may be used (the device must have the `subgroups` feature).
   * With them B/C are loaded once per subgroup and broadcast, which is much faster on
   * lavapipe. Default false.
   */
  subgroups?: boolean;
  /**
   * Whether WGSL using subgroup builtins must start with `enable subgroups;` (the WGSL
   * specification and Chrome: yes; Deno's wgpu refuses it). Default: the cached answer of
   * `probeSubgroupsDirective` for the device, or false when it has not run.
   */
  subgroupsDirective?: boolean;
  /**
   * Forward variant: `serial-row` (one invocation per row walks L; work-efficient, fastest on
   * CPU adapters) or `workgroup-scan` (one workgroup per row, parallel scan over L in chunks
   * of 256 with a carried prefix, as the CUDA kernel). Default: `serial-row` on fallback
   * (CPU) adapters and whenever rows ≥ 2048, else `workgroup-scan`; {@linkcode autotuneForward}
   * measures instead.
   */
  forward?: "serial-row" | "workgroup-scan";
  /** Whether the adapter is a fallback (software) one; used by the default rule. */
  fallbackAdapter?: boolean;
  /** Smallest subgroup size the adapter guarantees (`adapter.info.subgroupMinSize`); default 4. */
  subgroupMinSize?: number;
  /** Invocations (consecutive channels) per workgroup; default chosen by rule (8..64). */
  workgroupSize?: number;
  /**
   * `CrossScan2d` only: run the backward on channel-major copies of u, Δ and dy (transposed
   * in, du and dΔ transposed back), so each row is contiguous along positions. Measured ~30 %
   * less CPU time on lavapipe at VM-UNet's stage-1 shape; on GPUs channels-last keeps loads
   * coalesced. Default: true unless `fallbackAdapter` is false.
   */
  channelMajorBackward?: boolean;
  /** Positions per checkpoint chunk of the backward (unrolled in the kernels); default 16, or the shortest above whose checkpoints fit one binding. */
  chunkLength?: number;
}

/** Resolved tuning. */
export interface ResolvedTuning {
  workgroupSize: number;
  chunkLength: number;
  subgroupWidth: number;
  subgroupsDirective?: boolean;
  forward: "serial-row" | "workgroup-scan";
  description: string;
}

/** Picks workgroup size and chunk length: enough workgroups for every core, small partials. */
export function resolveTuning(
  label: string,
  channels: number,
  parallel: number,
  length: number,
  rows: number,
  stateRowBytes: number,
  maxBindingBytes: number,
  options: ScanKernelOptions,
): ResolvedTuning {
  let wg = options.workgroupSize;
  if (wg === undefined) {
    // Largest power of two ≤ 64 that still leaves ≥ 8 workgroups to spread over the cores,
    // but never more than the channels need.
    wg = 64;
    while (wg > 8 && (wg / 2 >= channels || Math.ceil(channels / wg) * parallel < 8)) wg /= 2;
  }
  // 16 positions per unrolled chunk measured fastest on lavapipe for the backward (8 and 32
  // were 5–20% slower; the per-position values of a chunk stay in registers); doubled while
  // the checkpoints would not fit one binding.
  let chunk = options.chunkLength ?? 16;
  if (options.chunkLength === undefined) {
    while (chunk < 64 && Math.ceil(length / chunk) * stateRowBytes > maxBindingBytes) chunk *= 2;
    chunk = Math.min(chunk, length); // no point unrolling past L (and it costs compile time)
  }
  const sgw = options.subgroups ? Math.min(options.subgroupMinSize ?? 4, 64) : 0;
  if (options.subgroups && (!Number.isInteger(sgw) || sgw < 1)) {
    throw new ScanShapeError(
      `${label}: option subgroupMinSize must be a positive integer, got ${options.subgroupMinSize}`,
    );
  }
  if (!Number.isInteger(wg) || wg < 1 || wg > 1024) {
    throw new ScanShapeError(
      `${label}: option workgroupSize must be an integer in 1..1024, got ${wg}`,
    );
  }
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > 64) {
    throw new ScanShapeError(
      `${label}: option chunkLength must be an integer in 1..64, got ${chunk}`,
    );
  }
  const forward = options.forward ??
    (options.fallbackAdapter !== false || rows >= 2048 ? "serial-row" : "workgroup-scan");
  if (forward !== "serial-row" && forward !== "workgroup-scan") {
    throw new ScanShapeError(
      `${label}: option forward must be "serial-row" or "workgroup-scan", got ${forward}`,
    );
  }
  return {
    workgroupSize: wg,
    forward,
    chunkLength: chunk,
    subgroupWidth: sgw,
    subgroupsDirective: options.subgroupsDirective,
    description: `${
      forward === "serial-row" ? `serial-row wg${wg}` : "workgroup-scan 64×4"
    } chunk${chunk} ${sgw ? `subgroup-broadcast${sgw}` : "direct-loads"}`,
  };
}

/** Throws unless `v` is a positive integer. */
export function positiveInt(label: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new ScanShapeError(`${label}: shape '${name}' must be a positive integer, got ${v}`);
  }
}
