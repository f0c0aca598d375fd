/**
 * Row-major layout arithmetic with no dependencies: the element count and strides of a
 * shape. The ops (`ops/_shape.ts`) and the float64 reference (`reference/ndarray.ts`) both
 * use it; it holds no op logic, so the reference stays an independent check of the kernels.
 *
 * @module
 */

/** Row-major strides of `shape` (in elements). */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Product of the dimensions (1 for a scalar). */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
