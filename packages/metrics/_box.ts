/**
 * Bounding boxes and crops of masks and label volumes: the surface metrics only ever look
 * inside the box that holds both objects.
 *
 * @module
 */

import type { Grid } from "./volume.ts";
import { InvalidLabelError, InvalidValueError } from "./errors.ts";

/** A half-open box `[z0, z1) × [y0, y1) × [x0, x1)` in a padded grid. */
export interface Box {
  z0: number;
  z1: number;
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

/** The smallest box holding both (either may be null). */
export function unionBox(a: Box | null, b: Box | null): Box | null {
  if (!a) return b;
  if (!b) return a;
  return {
    z0: Math.min(a.z0, b.z0),
    z1: Math.max(a.z1, b.z1),
    y0: Math.min(a.y0, b.y0),
    y1: Math.max(a.y1, b.y1),
    x0: Math.min(a.x0, b.x0),
    x1: Math.max(a.x1, b.x1),
  };
}

/** Number of voxels in a box. */
export function boxVolume(b: Box): number {
  return (b.z1 - b.z0) * (b.y1 - b.y0) * (b.x1 - b.x0);
}

/** The foreground (non-zero) count and bounding box of a binary mask; NaN is an error. */
export function maskBox(data: ArrayLike<number>, grid: Grid, name: string): {
  count: number;
  box: Box | null;
} {
  const { nz, ny, nx } = grid;
  let count = 0;
  let z0 = nz, z1 = 0, y0 = ny, y1 = 0, x0 = nx, x1 = 0;
  let i = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      let rowHit = false;
      for (let x = 0; x < nx; x++, i++) {
        const v = data[i];
        if (v === 0) continue;
        if (v !== v) throw new InvalidValueError(`${name} is NaN at flat index ${i}`);
        count++;
        rowHit = true;
        if (x < x0) x0 = x;
        if (x >= x1) x1 = x + 1;
      }
      if (rowHit) {
        if (y < y0) y0 = y;
        if (y >= y1) y1 = y + 1;
        if (z < z0) z0 = z;
        if (z >= z1) z1 = z + 1;
      }
    }
  }
  return { count, box: count > 0 ? { z0, z1, y0, y1, x0, x1 } : null };
}

/** Per-class voxel counts, intersections and boxes of a prediction/truth label pair. */
export interface LabelStats {
  /** Voxels of each class in the prediction. */
  predCount: Float64Array;
  /** Voxels of each class in the truth. */
  gtCount: Float64Array;
  /** Voxels where both hold the class. */
  intersection: Float64Array;
  /** Box of each class in the prediction (null when absent). */
  predBox: (Box | null)[];
  /** Box of each class in the truth (null when absent). */
  gtBox: (Box | null)[];
}

function labelError(
  name: string,
  index: number,
  value: number,
  classes: number,
): InvalidLabelError {
  return new InvalidLabelError(
    `${name} has label ${value} at flat index ${index}; expected an integer in 0..${
      classes - 1
    } (classes = ${classes})`,
  );
}

/**
 * One pass over both label volumes: per-class counts, intersections and bounding boxes,
 * validating that every label is an integer in `0..classes-1` (or, with
 * `ignoreOutOfRange`, any integer, those outside the range being left out as the official
 * loop over classes 1..classes-1 leaves them out).
 */
export function labelStats(
  pred: ArrayLike<number>,
  gt: ArrayLike<number>,
  grid: Grid,
  classes: number,
  names: readonly [string, string],
  ignoreOutOfRange = false,
): LabelStats {
  const { nz, ny, nx } = grid;
  const predCount = new Float64Array(classes);
  const gtCount = new Float64Array(classes);
  const intersection = new Float64Array(classes);
  // Boxes as flat arrays: [z0, z1, y0, y1, x0, x1] per class.
  const pb = new Int32Array(classes * 6);
  const gb = new Int32Array(classes * 6);
  for (let c = 0; c < classes; c++) {
    pb[c * 6] = gb[c * 6] = nz;
    pb[c * 6 + 2] = gb[c * 6 + 2] = ny;
    pb[c * 6 + 4] = gb[c * 6 + 4] = nx;
  }
  // Row stamps: the last row (1-based) in which each class was seen, so that the y and z
  // extents are updated once per row rather than once per voxel.
  const pRow = new Int32Array(classes);
  const gRow = new Int32Array(classes);
  let i = 0;
  let row = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      row++;
      for (let x = 0; x < nx; x++, i++) {
        const p = pred[i];
        const g = gt[i];
        if (p !== 0) {
          if ((p >>> 0) !== p || p >= classes) {
            if (!(ignoreOutOfRange && Number.isInteger(p))) {
              throw labelError(names[0], i, p, classes);
            }
          } else {
            predCount[p]++;
            const o = p * 6;
            if (x < pb[o + 4]) pb[o + 4] = x;
            if (x >= pb[o + 5]) pb[o + 5] = x + 1;
            if (pRow[p] !== row) {
              pRow[p] = row;
              if (y < pb[o + 2]) pb[o + 2] = y;
              if (y >= pb[o + 3]) pb[o + 3] = y + 1;
              if (z < pb[o]) pb[o] = z;
              if (z >= pb[o + 1]) pb[o + 1] = z + 1;
            }
            if (p === g) intersection[p]++;
          }
        }
        if (g !== 0) {
          if ((g >>> 0) !== g || g >= classes) {
            if (!(ignoreOutOfRange && Number.isInteger(g))) {
              throw labelError(names[1], i, g, classes);
            }
          } else {
            gtCount[g]++;
            const o = g * 6;
            if (x < gb[o + 4]) gb[o + 4] = x;
            if (x >= gb[o + 5]) gb[o + 5] = x + 1;
            if (gRow[g] !== row) {
              gRow[g] = row;
              if (y < gb[o + 2]) gb[o + 2] = y;
              if (y >= gb[o + 3]) gb[o + 3] = y + 1;
              if (z < gb[o]) gb[o] = z;
              if (z >= gb[o + 1]) gb[o + 1] = z + 1;
            }
          }
        }
      }
    }
  }
  const toBox = (b: Int32Array, counts: Float64Array, c: number): Box | null =>
    counts[c] > 0
      ? {
        z0: b[c * 6],
        z1: b[c * 6 + 1],
        y0: b[c * 6 + 2],
        y1: b[c * 6 + 3],
        x0: b[c * 6 + 4],
        x1: b[c * 6 + 5],
      }
      : null;
  const predBox: (Box | null)[] = [];
  const gtBox: (Box | null)[] = [];
  for (let c = 0; c < classes; c++) {
    predBox.push(toBox(pb, predCount, c));
    gtBox.push(toBox(gb, gtCount, c));
  }
  return { predCount, gtCount, intersection, predBox, gtBox };
}

/**
 * Copies the part of `data` inside `box` as a 0/1 mask: `data == label`, or `data != 0`
 * when `label` is undefined.
 */
export function cropMask(
  data: ArrayLike<number>,
  grid: Grid,
  box: Box,
  label?: number,
): Uint8Array {
  const bz = box.z1 - box.z0, by = box.y1 - box.y0, bx = box.x1 - box.x0;
  const out = new Uint8Array(bz * by * bx);
  const { ny, nx } = grid;
  let o = 0;
  for (let z = 0; z < bz; z++) {
    for (let y = 0; y < by; y++) {
      let i = ((box.z0 + z) * ny + box.y0 + y) * nx + box.x0;
      if (label === undefined) {
        for (let x = 0; x < bx; x++, i++, o++) out[o] = data[i] !== 0 ? 1 : 0;
      } else {
        for (let x = 0; x < bx; x++, i++, o++) out[o] = data[i] === label ? 1 : 0;
      }
    }
  }
  return out;
}
