/**
 * Shape arithmetic shared by the ops: broadcasting, strides, axis normalisation, checks.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { DtypeError, formatShape, ShapeError } from "../tensor_errors.ts";
import { stridesOf } from "../_row_major.ts";

export { sizeOf, stridesOf } from "../_row_major.ts";

/** Largest rank the general strided kernels accept. */
export const MAX_RANK = 8;

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** NumPy broadcast of two shapes, or a {@linkcode ShapeError} naming `op`. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        op,
        `shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast (dimension ${i} of ` +
          `the result: ${da} vs ${db})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides to read `shape` broadcast to `outShape` (0 along broadcast dimensions). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const s = stridesOf(shape);
  const off = outShape.length - shape.length;
  return outShape.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : s[i - off]));
}

/** Normalises a possibly negative axis, or throws a {@linkcode ShapeError}. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new ShapeError(op, `axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/** Throws a {@linkcode DtypeError} unless every tensor has `dtype`. */
export function expectDtype(op: string, dtype: "f32" | "i32", ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== dtype) {
      throw new DtypeError(
        op,
        `expected ${dtype}, got ${t.dtype} tensor of shape ${formatShape(t.shape)}`,
      );
    }
  }
}

/** Throws when the tensors belong to different engines. */
export function sameEngine(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.engine !== ts[0].engine) throw new ShapeError(op, "tensors belong to different engines");
  }
}

/**
 * Drops size-1 dimensions and merges adjacent dimensions that are contiguous in every
 * operand, so general kernels loop over as few dimensions as possible.
 *
 * @param shape The iteration shape.
 * @param strides Per operand, its strides over `shape`.
 * @returns The reduced shape and strides (at least one dimension).
 */
export function coalesce(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (
      last >= 0 &&
      strides.every((s, k) => outStrides[k][last] === s[d] * shape[d])
    ) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    outStrides.forEach((s) => s.push(0));
  }
  return { shape: outShape, strides: outStrides };
}
