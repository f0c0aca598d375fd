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
  /** Smallest subgroup size the adapter guarantees (`adapter.info.subgroupMinSize`); default 4. */
  subgroupMinSize?: number;
  /** Invocations (consecutive channels) per workgroup; default chosen by rule (8..64). */
  workgroupSize?: number;
  /** Positions per checkpoint chunk of the backward (unrolled in the kernels); default 8, or the shortest whose checkpoints fit one binding. */
  chunkLength?: number;
}

/** Resolved tuning. */
export interface ResolvedTuning {
  workgroupSize: number;
  chunkLength: number;
  subgroupWidth: number;
  description: string;
}

/** Picks workgroup size and chunk length: enough workgroups for every core, small partials. */
export function resolveTuning(
  label: string,
  channels: number,
  parallel: number,
  length: number,
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
  // Shortest chunk whose checkpoints fit one binding (short unrolled chunks keep the backward's
  // per-position states in registers: 8 measured ~20% faster than 16 or 32 on lavapipe).
  let chunk = options.chunkLength ?? 8;
  if (options.chunkLength === undefined) {
    while (chunk < 64 && Math.ceil(length / chunk) * stateRowBytes > maxBindingBytes) chunk *= 2;
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
  return {
    workgroupSize: wg,
    chunkLength: chunk,
    subgroupWidth: sgw,
    description: `serial-row wg${wg} chunk${chunk} ${
      sgw ? `subgroup-broadcast${sgw}` : "direct-loads"
    }`,
  };
}

/** Throws unless `v` is a positive integer. */
export function positiveInt(label: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new ScanShapeError(`${label}: shape '${name}' must be a positive integer, got ${v}`);
  }
}
