/**
 * Rounding as PyTorch's nearest grid sampler does it (C's `nearbyint`: half to even), shared
 * by the transforms and the fused paired-dataset sampler.
 *
 * @module
 */

/**
 * Rounds half to even: `roundHalfEven(2.5) === 2`, `roundHalfEven(-1.5) === -2`.
 *
 * @param x The value.
 * @returns The nearest integer, ties to the even one.
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
