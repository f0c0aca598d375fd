/**
 * The core of the surface metrics on cropped 0/1 masks: medpy's surface (`mask XOR
 * binary_erosion(mask, connectivity 1)`, with scipy's `border_value = 0`) and the directed
 * surface distances (the EDT of `~reference_border` sampled at `result_border`).
 *
 * Cropping is exact: every voxel outside the box is background (the box holds both
 * objects, and outside the array scipy's erosion sees 0 too), and the nearest reference
 * surface voxel of any result surface voxel lies inside the box, because all reference
 * surface voxels do.
 *
 * @module
 */

import { squaredEdt } from "./_edt.ts";
import { percentileOfSorted } from "./percentile.ts";
import type { SurfaceDistanceMetrics } from "./surface.ts";

/**
 * The surface of a 0/1 mask in an `nz×ny×nx` box: foreground voxels with a background
 * neighbour along one of the real axes (the last `rank` axes); outside the box counts as
 * background.
 */
export function surfaceMask(
  mask: Uint8Array,
  dims: readonly [number, number, number],
  rank: number,
): { surface: Uint8Array; count: number } {
  const [nz, ny, nx] = dims;
  const plane = ny * nx;
  const useZ = rank >= 3;
  const useY = rank >= 2;
  const surface = new Uint8Array(mask.length);
  let count = 0;
  let i = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, i++) {
        if (!mask[i]) continue;
        const edge = x === 0 || x === nx - 1 || !mask[i - 1] || !mask[i + 1] ||
          (useY && (y === 0 || y === ny - 1 || !mask[i - nx] || !mask[i + nx])) ||
          (useZ && (z === 0 || z === nz - 1 || !mask[i - plane] || !mask[i + plane]));
        if (edge) {
          surface[i] = 1;
          count++;
        }
      }
    }
  }
  return { surface, count };
}

/**
 * Distances from each voxel of `fromSurface` (in raster order) to the nearest voxel of
 * `toSurface`, with spacing; both in the same box.
 */
export function directedDistances(
  fromSurface: Uint8Array,
  fromCount: number,
  toSurface: Uint8Array,
  dims: readonly [number, number, number],
  spacing: readonly [number, number, number],
): Float64Array {
  const [, ny, nx] = dims;
  const plane = ny * nx;
  // Only the (y, x) columns that hold a sample need the last EDT pass.
  const need = new Uint8Array(plane);
  for (let base = 0; base < fromSurface.length; base += plane) {
    for (let c = 0; c < plane; c++) if (fromSurface[base + c]) need[c] = 1;
  }
  const d2 = squaredEdt(toSurface, dims, spacing, need);
  const out = new Float64Array(fromCount);
  let k = 0;
  for (let i = 0; i < fromSurface.length; i++) {
    if (fromSurface[i]) out[k++] = Math.sqrt(d2[i]);
  }
  return out;
}

/** Both directed distance arrays of two cropped masks. */
export function pairInBox(
  maskA: Uint8Array,
  maskB: Uint8Array,
  dims: readonly [number, number, number],
  spacing: readonly [number, number, number],
  rank: number,
): { ab: Float64Array; ba: Float64Array } {
  const sa = surfaceMask(maskA, dims, rank);
  const sb = surfaceMask(maskB, dims, rank);
  return {
    ab: directedDistances(sa.surface, sa.count, sb.surface, dims, spacing),
    ba: directedDistances(sb.surface, sb.count, sa.surface, dims, spacing),
  };
}

/** The metrics from both directed distance arrays. */
export function metricsFromDistances(ab: Float64Array, ba: Float64Array): SurfaceDistanceMetrics {
  const pooled = new Float64Array(ab.length + ba.length);
  pooled.set(ab, 0);
  pooled.set(ba, ab.length);
  pooled.sort();
  let sum = 0;
  for (let i = 0; i < pooled.length; i++) sum += pooled[i];
  return {
    hd95: percentileOfSorted(pooled, 95),
    hausdorff: Math.max(maxOf(ab), maxOf(ba)),
    asd: meanOf(ab),
    assd: sum / pooled.length,
    resultToReference: ab,
    referenceToResult: ba,
  };
}

function maxOf(values: Float64Array): number {
  let m = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i] > m) m = values[i];
  return m;
}

function meanOf(values: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}
