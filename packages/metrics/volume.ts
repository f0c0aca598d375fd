/**
 * The input type of the volume metrics: a flat row-major array with its shape.
 *
 * @module
 */

import { InvalidOptionError, ShapeMismatchError } from "./errors.ts";

/**
 * A row-major array of rank 1 to 3 with its shape, outermost axis first (`(D,H,W)` for a
 * CT volume, `(H,W)` for an image). Binary masks are foreground where non-zero (as medpy's
 * `astype(bool)`); label volumes hold integer class ids.
 */
export interface Volume {
  /** The values, row-major. */
  readonly data: ArrayLike<number>;
  /** The shape, outermost first; its product equals `data.length`. */
  readonly shape: readonly number[];
}

/** Voxel spacing: one number for every axis, or one per axis in shape order. */
export type Spacing = number | readonly number[];

/** A volume's shape padded to three axes, with the spacing per padded axis. */
export interface Grid {
  /** Extent of the outermost (padded) axis. */
  nz: number;
  /** Extent of the middle axis. */
  ny: number;
  /** Extent of the innermost axis. */
  nx: number;
  /** Spacing along z, y, x. */
  sz: number;
  /** Spacing along y. */
  sy: number;
  /** Spacing along x. */
  sx: number;
  /** The original rank (1..3); padded axes are not neighbours for erosion. */
  rank: number;
}

/**
 * Checks that `result` and `reference` have equal shapes of rank 1..3 matching their data,
 * and resolves the spacing per axis.
 *
 * @param result First volume (named `what[0]` in messages).
 * @param reference Second volume.
 * @param spacing Optional spacing; default 1 (voxel units).
 * @param what Names of the two inputs in error messages.
 * @returns The padded grid.
 * @throws {ShapeMismatchError} when shapes differ or do not match the data.
 * @throws {InvalidOptionError} for a bad rank or spacing.
 */
export function resolveGrid(
  result: Volume,
  reference: Volume,
  spacing: Spacing | undefined,
  what: readonly [string, string] = ["result", "reference"],
): Grid {
  checkVolume(result, what[0]);
  checkVolume(reference, what[1]);
  const a = result.shape;
  const b = reference.shape;
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new ShapeMismatchError(
      `${what[0]} has shape [${a.join(", ")}] but ${what[1]} has shape [${b.join(", ")}]`,
    );
  }
  const rank = a.length;
  let perAxis: number[];
  if (spacing === undefined) perAxis = new Array(rank).fill(1);
  else if (typeof spacing === "number") perAxis = new Array(rank).fill(spacing);
  else {
    if (spacing.length !== rank) {
      throw new InvalidOptionError(
        `spacing has ${spacing.length} values [${
          spacing.join(", ")
        }] but the volumes have rank ${rank}`,
      );
    }
    perAxis = [...spacing];
  }
  for (const s of perAxis) {
    if (!(Number.isFinite(s) && s > 0)) {
      throw new InvalidOptionError(
        `spacing must be finite and positive, got [${perAxis.join(", ")}]`,
      );
    }
  }
  const dims = [1, 1, 1, ...a].slice(-3);
  const sp = [1, 1, 1, ...perAxis].slice(-3);
  return { nz: dims[0], ny: dims[1], nx: dims[2], sz: sp[0], sy: sp[1], sx: sp[2], rank };
}

function checkVolume(v: Volume, name: string): void {
  const shape = v.shape;
  if (shape.length < 1 || shape.length > 3) {
    throw new InvalidOptionError(
      `${name} has rank ${shape.length} (shape [${shape.join(", ")}]); expected rank 1, 2 or 3`,
    );
  }
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new InvalidOptionError(`${name} has an invalid shape [${shape.join(", ")}]`);
  }
  const count = shape.reduce((x, y) => x * y, 1);
  if (count !== v.data.length) {
    throw new ShapeMismatchError(
      `${name} has shape [${shape.join(", ")}] (${count} values) but ${v.data.length} values`,
    );
  }
}
