/**
 * Test helpers of the nn op tests (not exported from the package).
 *
 * @module
 */

import { randomNormal } from "../rng.ts";

/** Deterministic standard-normal test data (float64) from the Philox stream `stream`. */
export function normals(n: number, stream: number, scale = 1, seed = 1234): Float64Array {
  const z = randomNormal(seed, stream, n);
  for (let i = 0; i < n; i++) z[i] *= scale;
  return z;
}

/** Max |a − b| / (atol + rtol·|b|) — below 1 means within tolerance. */
export function tolRatio(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  atol: number,
  rtol: number,
): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const r = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(r <= m)) m = Number.isNaN(r) ? Infinity : r;
  }
  return m;
}

/** Asserts `a ≈ b` elementwise, naming what was compared. */
export function assertClose(
  what: string,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  atol: number,
  rtol = 0,
): void {
  const r = tolRatio(a, b, atol, rtol);
  if (!(r <= 1)) {
    let worst = 0, wi = 0;
    for (let i = 0; i < a.length; i++) {
      const e = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
      if (e > worst || Number.isNaN(e)) {
        worst = e;
        wi = i;
      }
    }
    throw new Error(
      `${what}: error ratio ${r.toFixed(3)} at [${wi}]: got ${a[wi]}, want ${
        b[wi]
      } (atol ${atol}, rtol ${rtol})`,
    );
  }
}
