/**
 * The rule that picks launch parameters per adapter and shape.
 *
 * @module
 */

import { ScanShapeError } from "./errors.ts";

/** Options shared by the scan kernels. */
export interface ScanKernelOptions {
  /**
   * Whether subgroup operations may be used (as reported by the device layer). The serial
   * variants do not need them; it is recorded in `variant` for the benchmark.
   */
  subgroups?: boolean;
  /** Invocations (consecutive channels) per workgroup; default chosen by rule (8..64). */
  workgroupSize?: number;
  /** Positions per checkpoint chunk of the backward; default 32. */
  chunkLength?: number;
}

/** Resolved tuning. */
export interface ResolvedTuning {
  workgroupSize: number;
  chunkLength: number;
  description: string;
}

/** Picks workgroup size and chunk length: enough workgroups for every core, small partials. */
export function resolveTuning(
  label: string,
  channels: number,
  parallel: number,
  options: ScanKernelOptions,
): ResolvedTuning {
  let wg = options.workgroupSize;
  if (wg === undefined) {
    // Largest power of two ≤ 64 that still leaves ≥ 8 workgroups to spread over the cores,
    // but never more than the channels need.
    wg = 64;
    while (wg > 8 && (wg / 2 >= channels || Math.ceil(channels / wg) * parallel < 8)) wg /= 2;
  }
  const chunk = options.chunkLength ?? 32;
  if (!Number.isInteger(wg) || wg < 1 || wg > 1024) {
    throw new ScanShapeError(
      `${label}: option workgroupSize must be an integer in 1..1024, got ${wg}`,
    );
  }
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > 256) {
    throw new ScanShapeError(
      `${label}: option chunkLength must be an integer in 1..256, got ${chunk}`,
    );
  }
  return {
    workgroupSize: wg,
    chunkLength: chunk,
    description: `serial-row wg${wg} chunk${chunk}${
      options.subgroups ? " (subgroups available)" : ""
    }`,
  };
}

/** Throws unless `v` is a positive integer. */
export function positiveInt(label: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new ScanShapeError(`${label}: shape '${name}' must be a positive integer, got ${v}`);
  }
}
