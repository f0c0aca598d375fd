/**
 * Dispatch grids: workgroup counts for `n` invocations (or `n` workgroups) split over the
 * dimensions of a dispatch so that no dimension exceeds the device's
 * `maxComputeWorkgroupsPerDimension` (callers pass their device's
 * `device.limits.maxComputeWorkgroupsPerDimension`; 65535 is the WebGPU default every
 * device supports).
 *
 * @module
 */

/** The `maxComputeWorkgroupsPerDimension` every WebGPU device supports. */
export const DEFAULT_MAX_WORKGROUPS = 65535;

/**
 * Workgroup counts covering `n` invocations of a 1-D kernel of `workgroupSize`, split over x
 * and y when more than `maxPerDimension` workgroups are needed, the rows as even as possible
 * (so that few workgroups idle past the end). Kernels recover the linear index from
 * `num_workgroups` (`(wg.y · nwg.x + wg.x) · workgroupSize + lid.x`).
 *
 * @example
 * ```ts
 * import { grid1d } from "@vmunet/wgsl";
 * const [x, y] = grid1d(70000 * 64, 64, 65535);
 * if (x !== 35000 || y !== 2) throw new Error(`grid1d split: ${x}, ${y}`);
 * const [one] = grid1d(10, 64);
 * if (one !== 1) throw new Error("grid1d small");
 * ```
 *
 * @param n Invocations needed.
 * @param workgroupSize Invocations per workgroup.
 * @param maxPerDimension The device's workgroup limit per dimension (default 65535).
 * @returns `[x, y, 1]`.
 */
export function grid1d(
  n: number,
  workgroupSize: number,
  maxPerDimension: number = DEFAULT_MAX_WORKGROUPS,
): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / workgroupSize));
  const y = Math.ceil(groups / maxPerDimension);
  return [Math.ceil(groups / y), y, 1];
}

/**
 * Workgroup counts `[x, y, z]` for `x` workgroups along the first axis and `rows` along a
 * second one that may exceed the limit: rows go over y, then z. Kernels recover the row as
 * `wid.y + wid.z * nwg.y`.
 *
 * @example
 * ```ts
 * import { gridRows } from "@vmunet/wgsl";
 * const [x, y, z] = gridRows(3, 100000, 65535);
 * if (x !== 3 || y !== 65535 || z !== 2) throw new Error("gridRows split");
 * ```
 *
 * @param x Workgroups along x.
 * @param rows Workgroups needed along the split axis.
 * @param maxPerDimension The device's workgroup limit per dimension (default 65535).
 * @returns `[x, y, z]` with `y · z ≥ rows`.
 */
export function gridRows(
  x: number,
  rows: number,
  maxPerDimension: number = DEFAULT_MAX_WORKGROUPS,
): [number, number, number] {
  const y = Math.max(1, Math.min(rows, maxPerDimension));
  return [x, y, Math.ceil(rows / y)];
}
