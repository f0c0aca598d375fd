/**
 * Seeded train/validation splits (the 7:3 split of the ISIC prepare command, the split option
 * of folder datasets).
 *
 * @module
 */

import { DatasetLayoutError, DatasetOptionError } from "./errors.ts";
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

/**
 * One part of the {@linkcode seededSplit} of a list (the image/mask pairs of a dataset folder),
 * in list order; an empty part is an error naming the folder.
 *
 * @param items The whole list.
 * @param part `train` or `val`.
 * @param valFraction Fraction in [0, 1) for validation.
 * @param seed Seed of the permutation.
 * @param root The folder the list comes from, named in the error.
 * @returns The items of that part.
 * @throws {DatasetLayoutError} when the part is empty.
 * @example
 * ```ts
 * import { splitPart } from "@vmunet/datasets";
 * const names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
 * console.assert(splitPart(names, "val", 0.3, 42, "data").length === 3);
 * ```
 */
export function splitPart<T>(
  items: readonly T[],
  part: "train" | "val",
  valFraction: number,
  seed: number,
  root: string,
): T[] {
  const chosen = seededSplit(items.length, valFraction, seed)[part].map((i) => items[i]);
  if (chosen.length === 0) {
    throw new DatasetLayoutError(
      root,
      `the ${part} part of the split is empty (${items.length} pairs)`,
    );
  }
  return chosen;
}
