/**
 * The rule that picks launch parameters per adapter and shape.
 *
 * @module
 */

import { ScanShapeError } from "./errors.ts";
import { chunkedLength } from "./_wgsl_chunked.ts";

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
   * Kernel family and forward variant. The CPU family: `serial-row` (one invocation per row
   * walks L; work-efficient, fastest on CPU adapters) or `workgroup-scan` (one workgroup per
   * row, parallel scan over L in chunks of 256 with a carried prefix), both with the
   * row-walking backward. The GPU family `chunked`: forward and backward parallel over
   * (batch, channel, state) and chunks of the sequence (local / carry / apply passes; see
   * `_wgsl_chunked.ts`), hundreds of thousands of invocations per dispatch at VM-UNet's
   * stage-1 shape. Default: `serial-row` on fallback (CPU) adapters, `chunked` when
   * `fallbackAdapter` is false; {@linkcode autotuneForward} measures the CPU family's two.
   */
  forward?: "serial-row" | "workgroup-scan" | "chunked";
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
   * coalesced. Default: true unless `fallbackAdapter` is false. The chunked family always
   * walks the channels-last maps (the option is ignored).
   */
  channelMajorBackward?: boolean;
  /**
   * Positions per checkpoint chunk (unrolled in the CPU family's backward); default 16, or
   * the shortest above whose checkpoints fit one binding. The `chunked` family needs
   * `chunkLength · dState ≤ 256` and defaults to the largest power of two ≤ 16 that fits.
   */
  chunkLength?: number;
}

/** Resolved tuning. */
export interface ResolvedTuning {
  workgroupSize: number;
  chunkLength: number;
  subgroupWidth: number;
  subgroupsDirective?: boolean;
  forward: "serial-row" | "workgroup-scan" | "chunked";
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
  dState: number,
): ResolvedTuning {
  const forward = options.forward ??
    (options.fallbackAdapter !== false ? "serial-row" : "chunked");
  if (forward !== "serial-row" && forward !== "workgroup-scan" && forward !== "chunked") {
    throw new ScanShapeError(
      `${label}: option forward must be "serial-row", "workgroup-scan" or "chunked", got ${forward}`,
    );
  }
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
  let chunk = options.chunkLength ?? (forward === "chunked" ? chunkedLength(dState) : 16);
  if (forward === "chunked" && chunk * dState > 256) {
    throw new ScanShapeError(
      `${label}: option chunkLength ${chunk} × dState ${dState} exceeds 256 (the chunked dB/dC workgroup)`,
    );
  }
  if (options.chunkLength === undefined && forward !== "chunked") {
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
  return {
    workgroupSize: wg,
    forward,
    chunkLength: chunk,
    subgroupWidth: sgw,
    subgroupsDirective: options.subgroupsDirective,
    description: forward === "chunked"
      ? `chunked T${chunk} local/carry/apply`
      : `${forward === "serial-row" ? `serial-row wg${wg}` : "workgroup-scan 64×4"} chunk${chunk} ${
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
