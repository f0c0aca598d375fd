/**
 * Seeded train/validation splits (the 7:3 split of the ISIC prepare command, the split option
 * of folder datasets).
 *
 * @module
 */

import { DatasetOptionError } from "./errors.ts";
import { Rng } from "./random.ts";

/** Indices of the two parts of a split, each in ascending order. */
export interface SplitIndices {
  /** Training indices. */
  train: number[];
  /** Validation indices. */
  val: number[];
}

/**
 * Splits `count` items into train and validation parts: a seeded permutation, its first
 * `round(count · valFraction)` items go to validation.
 *
 * @param count Number of items.
 * @param valFraction Fraction in [0, 1) for validation (0.3 for the ISIC 7:3 split).
 * @param seed Seed of the permutation.
 * @returns Both parts, sorted.
 * @example
 * ```ts
 * import { seededSplit } from "@vmunet/datasets";
 * const { train, val } = seededSplit(10, 0.3, 42);
 * console.assert(train.length === 7 && val.length === 3);
 * ```
 */
export function seededSplit(count: number, valFraction: number, seed: number): SplitIndices {
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new DatasetOptionError("valFraction", `must be in [0, 1), got ${valFraction}`);
  }
  const perm = Rng.derive(seed, "split", count).permutation(count);
  const nVal = Math.round(count * valFraction);
  const val = Array.from(perm.subarray(0, nVal)).sort((a, b) => a - b);
  const train = Array.from(perm.subarray(nVal)).sort((a, b) => a - b);
  return { train, val };
}
