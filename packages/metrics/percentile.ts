/**
 * Percentiles exactly as `numpy.percentile` computes them with its default `linear` method.
 *
 * @module
 */

import { InvalidOptionError, InvalidValueError } from "./errors.ts";

/**
 * The `q`-th percentile of `values` as `numpy.percentile(values, q)` (method `linear`):
 * sort, take the virtual index `(n−1)·q/100`, and interpolate linearly between its
 * neighbours with numpy's two-sided `lerp`.
 *
 * @param values The sample (not modified).
 * @param q Percentile in `[0, 100]`.
 * @returns The percentile.
 * @throws {InvalidOptionError} for an empty sample or `q` outside `[0, 100]`.
 * @throws {InvalidValueError} for a NaN in the sample.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { percentile } from "@vmunet/metrics";
 * assert.ok(Math.abs(percentile([1, 2, 3, 4], 95) - 3.85) < 1e-12);
 * ```
 */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 100)) {
    throw new InvalidOptionError(`percentile q must be in [0, 100], got ${q}`);
  }
  const n = values.length;
  if (n === 0) throw new InvalidOptionError("percentile of an empty sample");
  const sorted = Float64Array.from(values);
  for (let i = 0; i < n; i++) {
    if (sorted[i] !== sorted[i]) throw new InvalidValueError(`percentile: value ${i} is NaN`);
  }
  sorted.sort();
  return percentileOfSorted(sorted, q);
}

/** {@linkcode percentile} of an already ascending sample (no copy, no checks). */
export function percentileOfSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  const virtual = (n - 1) * (q / 100);
  const below = Math.floor(virtual);
  const lo = Math.min(Math.max(below, 0), n - 1);
  const hi = Math.min(Math.max(below + 1, 0), n - 1);
  const t = virtual - below;
  const a = sorted[lo];
  const b = sorted[hi];
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}
