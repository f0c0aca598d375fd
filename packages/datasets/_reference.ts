/**
 * Loads `testdata/reference.json`, the numbers generated once by `testdata/make_reference.py`
 * with torch 1.13 / torchvision 0.14 / scipy 1.10 / PIL (tests only).
 *
 * @module
 */

/** One array of the reference file. */
export interface RefArray {
  shape: number[];
  dtype: string;
  data: number[];
}

// deno-lint-ignore no-explicit-any
export type Reference = Record<string, any>;

/** Reads and parses the committed reference numbers. */
export function loadReference(): Reference {
  return JSON.parse(Deno.readTextFileSync(new URL("./testdata/reference.json", import.meta.url)));
}

/** Largest absolute difference between `a` and `b` (lengths must match). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
