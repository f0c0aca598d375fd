/**
 * Reductions: `sum` and `mean` over axes (keepdim option), and `sumTo` (the backward of
 * broadcasting).
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { ShapeError } from "../tensor_errors.ts";
import { normAxis, sameShape } from "./_shape.ts";
import { broadcastTo, reshape } from "./layout.ts";
import { mulScalar } from "./elementwise.ts";
import { broadcastAxes, reduceSum } from "./_sum.ts";

function normAxes(
  op: string,
  axes: number | readonly number[] | undefined,
  rank: number,
): Set<number> {
  if (axes === undefined) return new Set(Array.from({ length: rank }, (_, i) => i));
  const list = typeof axes === "number" ? [axes] : axes;
  const set = new Set<number>();
  for (const a of list) {
    const n = normAxis(op, a, rank);
    if (set.has(n)) throw new ShapeError(op, `axis ${a} appears twice in [${list.join(", ")}]`);
    set.add(n);
  }
  return set;
}

/** Options of {@linkcode sum} and {@linkcode mean}. */
export interface ReduceOptions {
  /** Keep reduced dimensions with size 1 (default false). */
  keepdim?: boolean;
}

function reduceOp(
  op: string,
  x: Tensor,
  axes: number | readonly number[] | undefined,
  options: ReduceOptions,
  mean: boolean,
): Tensor {
  x.storageFor(op);
  if (x.dtype !== "f32") throw new ShapeError(op, `needs f32, got ${x.dtype}`);
  const set = normAxes(op, axes, x.rank);
  const count = x.shape.reduce((a, d, i) => (set.has(i) ? a * d : a), 1);
  const scale = mean ? 1 / count : 1;
  const engine = x.engine;
  const keptShape = x.shape.map((d, i) => (set.has(i) ? 1 : d));
  const outShape = options.keepdim ? keptShape : x.shape.filter((_, i) => !set.has(i));
  const raw = reduceSum(engine, op, x, set, scale);
  const y = engine.view(raw, outShape);
  raw.dispose();
  engine.record(op, [x], [y], ([g]) => {
    const gk = reshape(g!, keptShape);
    const b = broadcastTo(gk, x.shape);
    return [mean ? mulScalar(b, scale) : b];
  });
  return y;
}

/**
 * Sum over `axes` (all when omitted), like `torch.sum(x, dim, keepdim)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, sum } from "@vmunet/tensor";
 * const e = await Engine.create();
 * const x = e.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
 * assert.deepEqual(Array.from(await sum(x, 1).read()), [6, 15]);
 * e.destroy();
 * ```
 *
 * @param x Input (f32).
 * @param axes Axis or axes (negative counts from the end); all when omitted.
 * @param options `keepdim`.
 * @returns The sums.
 * @throws {ShapeError} for an axis out of range or repeated.
 */
export function sum(
  x: Tensor,
  axes?: number | readonly number[],
  options: ReduceOptions = {},
): Tensor {
  return reduceOp("sum", x, axes, options, false);
}

/**
 * Mean over `axes` (all when omitted), like `torch.mean(x, dim, keepdim)`.
 *
 * @param x Input (f32).
 * @param axes Axis or axes; all when omitted.
 * @param options `keepdim`.
 * @returns The means.
 */
export function mean(
  x: Tensor,
  axes?: number | readonly number[],
  options: ReduceOptions = {},
): Tensor {
  return reduceOp("mean", x, axes, options, true);
}

/**
 * Sums `g` down to `shape` (the backward of broadcasting `shape` to `g.shape`): over leading
 * extra dimensions and where `shape` has 1. Returns `g` itself when the shapes are equal.
 *
 * @param g A gradient of the broadcast shape.
 * @param shape The shape before broadcasting.
 * @returns A tensor of `shape`.
 * @throws {ShapeError} when `shape` does not broadcast to `g.shape`.
 */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const axes = broadcastAxes(g, shape);
  return reshape(sum(g, axes, { keepdim: true }), shape);
}
