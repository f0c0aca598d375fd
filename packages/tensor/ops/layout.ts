/**
 * Layout ops and their backward: reshape, broadcastTo, repeat, permute/transpose, flip,
 * strided slice, concat and the PatchExpand pixel shuffle.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { formatShape, ShapeError } from "../tensor_errors.ts";
import { gatherKernel, scatterKernel } from "./_kernels.ts";
import { MAX_RANK, normAxis, sameEngine, sameShape, sizeOf, stridesOf } from "./_shape.ts";
import { sumToShape } from "./_sum.ts";

function alive(op: string, ...ts: Tensor[]): void {
  for (const t of ts) t.storageFor(op);
}

/**
 * A view with another shape of the same size (no copy); one dimension may be `-1`.
 *
 * @param x Input.
 * @param shape New shape.
 * @returns The view (shares storage with `x`).
 * @throws {ShapeError} when the sizes differ.
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const op = "reshape";
  alive(op, x);
  const s = [...shape];
  const free = s.indexOf(-1);
  if (free >= 0) {
    const rest = s.reduce((a, d, i) => (i === free ? a : a * d), 1);
    s[free] = rest === 0 ? 0 : x.size / rest;
  }
  if (sizeOf(s) !== x.size || s.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(
      op,
      `cannot reshape ${formatShape(x.shape)} (${x.size} elements) to ${formatShape(shape)}`,
    );
  }
  const engine = x.engine;
  const y = engine.view(x, s);
  engine.record(op, [x], [y], ([g]) => [engine.view(g!, x.shape)]);
  return y;
}

/** Alias of {@linkcode reshape} (all tensors are contiguous, so every view is a reshape). */
export const view: (x: Tensor, shape: readonly number[]) => Tensor = reshape;

/**
 * Broadcasts `x` to `shape` (NumPy rules), materialised; backward sums over the broadcast
 * dimensions.
 *
 * @param x Input.
 * @param shape Target shape.
 * @returns The broadcast tensor.
 * @throws {ShapeError} when `x.shape` does not broadcast to `shape`.
 */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  const op = "broadcastTo";
  alive(op, x);
  if (shape.length > MAX_RANK) throw new ShapeError(op, `rank ${shape.length} > ${MAX_RANK}`);
  const off = shape.length - x.rank;
  const xs = stridesOf(x.shape);
  if (off < 0) {
    throw new ShapeError(op, `cannot broadcast ${formatShape(x.shape)} to ${formatShape(shape)}`);
  }
  const strides = shape.map((d, i) => {
    if (i < off) return 0;
    const xd = x.shape[i - off];
    if (xd === d) return xs[i - off];
    if (xd === 1) return 0;
    throw new ShapeError(op, `cannot broadcast ${formatShape(x.shape)} to ${formatShape(shape)}`);
  });
  if (sameShape(x.shape, shape)) return reshape(x, shape);
  const engine = x.engine;
  const y = gatherKernel(engine, op, x, shape, strides, 0);
  engine.record(op, [x], [y], ([g]) => [sumToShape(g!, x.shape)]);
  return y;
}

/**
 * Tiles `x` like `torch.Tensor.repeat(*reps)`: `reps` has at least `x.rank` entries; extra
 * leading entries add dimensions.
 *
 * @param x Input.
 * @param reps Repetitions per dimension.
 * @returns The tiled tensor.
 */
export function repeat(x: Tensor, reps: readonly number[]): Tensor {
  const op = "repeat";
  alive(op, x);
  if (reps.length < x.rank) {
    throw new ShapeError(
      op,
      `needs at least ${x.rank} repetitions for ${formatShape(x.shape)}, got [${reps}]`,
    );
  }
  const shape = [...Array(reps.length - x.rank).fill(1), ...x.shape];
  // Interleave: [1, n0, 1, n1, …] broadcast to [r0, n0, r1, n1, …], then merge pairs.
  const inter = shape.flatMap((d) => [1, d]);
  const target = shape.flatMap((d, i) => [reps[i], d]);
  if (target.length > MAX_RANK) {
    // Fall back to repeating one dimension at a time for high ranks.
    let cur = reshape(x, shape);
    for (let i = 0; i < shape.length; i++) {
      if (reps[i] === 1) continue;
      const before = cur.shape.slice(0, i), after = cur.shape.slice(i);
      const b = broadcastTo(reshape(cur, [...before, 1, ...after]), [...before, reps[i], ...after]);
      cur = reshape(b, [...before, reps[i] * after[0], ...after.slice(1)]);
    }
    return cur;
  }
  const b = broadcastTo(reshape(x, inter), target);
  return reshape(b, shape.map((d, i) => d * reps[i]));
}

/**
 * Reorders dimensions like `torch.permute(x, axes)` (materialised).
 *
 * @param x Input.
 * @param axes A permutation of `0…rank−1` (negative allowed).
 * @returns The permuted tensor.
 * @throws {ShapeError} when `axes` is not a permutation.
 */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  const op = "permute";
  alive(op, x);
  const perm = axes.map((a) => normAxis(op, a, x.rank));
  if (perm.length !== x.rank || new Set(perm).size !== x.rank) {
    throw new ShapeError(
      op,
      `[${axes.join(", ")}] is not a permutation of the axes of ${formatShape(x.shape)}`,
    );
  }
  const xs = stridesOf(x.shape);
  const shape = perm.map((p) => x.shape[p]);
  const engine = x.engine;
  if (perm.every((p, i) => p === i)) return reshape(x, shape);
  const y = gatherKernel(engine, op, x, shape, perm.map((p) => xs[p]), 0);
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  engine.record(op, [x], [y], ([g]) => [permute(g!, inverse)]);
  return y;
}

/**
 * Swaps two dimensions.
 *
 * @param x Input.
 * @param dim0 First axis.
 * @param dim1 Second axis.
 * @returns The transposed tensor.
 */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normAxis("transpose", dim0, x.rank), b = normAxis("transpose", dim1, x.rank);
  const perm = Array.from({ length: x.rank }, (_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/**
 * Reverses the order of elements along `axes`, like `torch.flip`.
 *
 * @param x Input.
 * @param axes Axes to flip.
 * @returns The flipped tensor.
 */
export function flip(x: Tensor, axes: readonly number[]): Tensor {
  const op = "flip";
  alive(op, x);
  const set = new Set(axes.map((a) => normAxis(op, a, x.rank)));
  const xs = stridesOf(x.shape);
  let base = 0;
  const strides = xs.map((s, d) => {
    if (!set.has(d)) return s;
    base += (x.shape[d] - 1) * s;
    return -s;
  });
  const engine = x.engine;
  const y = gatherKernel(engine, op, x, x.shape, strides, base);
  engine.record(op, [x], [y], ([g]) => [flip(g!, axes)]);
  return y;
}

/** One axis of a {@linkcode slice}: Python `start:stop:step` (any may be omitted). */
export interface SliceSpec {
  /** First index (default 0, or the end for a negative step); negative counts from the end. */
  start?: number;
  /** One past the last index (default the end); negative counts from the end. */
  stop?: number;
  /** Step (default 1; negative walks backwards; 0 is an error). */
  step?: number;
}

/** Python's `slice.indices`: normalised start, step and the resulting length. */
function sliceIndices(
  op: string,
  spec: SliceSpec,
  n: number,
): { start: number; step: number; len: number } {
  const step = spec.step ?? 1;
  if (step === 0 || !Number.isInteger(step)) {
    throw new ShapeError(op, `slice step must be a non-zero integer, got ${step}`);
  }
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let start: number, stop: number;
  if (step > 0) {
    start = spec.start === undefined
      ? 0
      : clamp(spec.start < 0 ? spec.start + n : spec.start, 0, n);
    stop = spec.stop === undefined ? n : clamp(spec.stop < 0 ? spec.stop + n : spec.stop, 0, n);
  } else {
    start = spec.start === undefined
      ? n - 1
      : clamp(spec.start < 0 ? spec.start + n : spec.start, -1, n - 1);
    stop = spec.stop === undefined
      ? -1
      : clamp(spec.stop < 0 ? spec.stop + n : spec.stop, -1, n - 1);
  }
  const len = step > 0
    ? Math.max(0, Math.ceil((stop - start) / step))
    : Math.max(0, Math.ceil((stop - start) / step));
  return { start, step, len };
}

/**
 * Strided slice with Python semantics per axis: `slice(x, [{}, {start: 0, step: 2},
 * {start: 1, step: 2}])` is `x[:, 0::2, 1::2]`; missing trailing axes are taken whole.
 *
 * @param x Input.
 * @param specs One {@linkcode SliceSpec} per leading axis (`{}` = whole axis).
 * @returns The slice (a copy).
 * @throws {ShapeError} for more specs than axes or a zero step.
 */
export function slice(x: Tensor, specs: readonly SliceSpec[]): Tensor {
  const op = "slice";
  alive(op, x);
  if (specs.length > x.rank) {
    throw new ShapeError(op, `${specs.length} slice specs for ${formatShape(x.shape)}`);
  }
  const xs = stridesOf(x.shape);
  let base = 0;
  const shape: number[] = [];
  const strides: number[] = [];
  for (let d = 0; d < x.rank; d++) {
    const { start, step, len } = sliceIndices(op, specs[d] ?? {}, x.shape[d]);
    shape.push(len);
    strides.push(step * xs[d]);
    if (len > 0) base += start * xs[d];
  }
  const engine = x.engine;
  const y = gatherKernel(engine, op, x, shape, strides, base);
  engine.record(op, [x], [y], ([g]) => {
    const gx = engine.zeros(x.shape);
    scatterKernel(engine, "slice.backward", g!, gx, strides, base);
    return [gx];
  });
  return y;
}

/**
 * Concatenates tensors along `axis` (all other dimensions equal), like `torch.cat`.
 *
 * @param tensors Inputs (at least one; same dtype).
 * @param axis The axis.
 * @returns The concatenation.
 * @throws {ShapeError} when the other dimensions differ.
 */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  const op = "concat";
  if (tensors.length === 0) throw new ShapeError(op, "needs at least one tensor");
  alive(op, ...tensors);
  sameEngine(op, ...tensors);
  const first = tensors[0];
  const ax = normAxis(op, axis, first.rank);
  for (const t of tensors) {
    if (
      t.rank !== first.rank || t.dtype !== first.dtype ||
      t.shape.some((d, i) => i !== ax && d !== first.shape[i])
    ) {
      throw new ShapeError(
        op,
        `cannot concatenate ${
          tensors.map((t) => `${t.dtype}${formatShape(t.shape)}`).join(", ")
        } along axis ${axis}`,
      );
    }
  }
  const shape = [...first.shape];
  shape[ax] = tensors.reduce((a, t) => a + t.shape[ax], 0);
  const engine = first.engine;
  const y = engine.empty(shape, first.dtype);
  const ys = stridesOf(shape);
  const offsets: number[] = [];
  let at = 0;
  for (const t of tensors) {
    offsets.push(at);
    scatterKernel(engine, op, t, y, ys, at * ys[ax]);
    at += t.shape[ax];
  }
  engine.record(
    op,
    tensors,
    [y],
    ([g]) =>
      tensors.map((t, i) =>
        t.requiresGrad
          ? slice(
            g!,
            shape.map((
              _,
              d,
            ) => (d === ax ? { start: offsets[i], stop: offsets[i] + t.shape[ax] } : {})),
          )
          : null
      ),
  );
  return y;
}

/**
 * PatchExpand's rearrange `b h w (p1 p2 c) -> b (h p1) (w p2) c` for any factor `p`:
 * `out[b, h·p + p1, w·p + p2, c] = x[b, h, w, (p1·p + p2)·C + c]`.
 *
 * @param x Input `(B, H, W, p·p·C)`.
 * @param p The factor (2 for PatchExpand2D, 4 for Final_PatchExpand2D).
 * @returns `(B, H·p, W·p, C)`.
 * @throws {ShapeError} when x is not rank 4 or its channels are not divisible by p².
 */
export function pixelShuffle(x: Tensor, p: number): Tensor {
  const op = "pixelShuffle";
  alive(op, x);
  if (x.rank !== 4 || !Number.isInteger(p) || p < 1 || x.shape[3] % (p * p) !== 0) {
    throw new ShapeError(op, `needs (B, H, W, p²·C) with p = ${p}, got ${formatShape(x.shape)}`);
  }
  const [b, h, w, pc] = x.shape;
  const c = pc / (p * p);
  const six = reshape(x, [b, h, w, p, p, c]);
  const moved = permute(six, [0, 1, 3, 2, 4, 5]);
  return reshape(moved, [b, h * p, w * p, c]);
}

/**
 * A materialised copy (new storage), recorded on the tape.
 *
 * @param x Input.
 * @returns The copy.
 */
export function copy(x: Tensor): Tensor {
  const op = "copy";
  alive(op, x);
  const engine = x.engine;
  const y = gatherKernel(engine, op, x, x.shape, stridesOf(x.shape), 0);
  engine.record(op, [x], [y], ([g]) => [g]);
  return y;
}

/**
 * Copies `value` into `target`'s storage in place (same shape and dtype; not recorded on
 * the tape): optimizer updates and state writes.
 *
 * @param target The tensor overwritten.
 * @param value The new contents.
 * @throws {ShapeError} when the shapes or dtypes differ.
 */
export function assign(target: Tensor, value: Tensor): void {
  const op = "assign";
  alive(op, target, value);
  if (!sameShape(target.shape, value.shape) || target.dtype !== value.dtype) {
    throw new ShapeError(
      op,
      `cannot assign ${value.dtype}${formatShape(value.shape)} to ${target.dtype}${
        formatShape(target.shape)
      }`,
    );
  }
  scatterKernel(target.engine, op, value, target, stridesOf(value.shape), 0);
}
