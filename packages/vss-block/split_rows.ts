/**
 * Splitting a tensor into consecutive row ranges of its first dimension with buffer copies
 * (the ranges are contiguous in memory, so no index arithmetic is needed): SS2D splits
 * `in_proj.weight (2Di, C)` into its x and z halves this way.
 *
 * @module
 */

import { ShapeError, type Tensor } from "@vmunet/tensor";
import { defineOp, formatShape } from "@vmunet/tensor/kernels";

const splitOp = defineOp<{ sizes: readonly number[] }>({
  name: "splitRows",
  forward(engine, [x], { sizes }) {
    const rowElems = x.size / x.shape[0];
    const encoder = engine.commandEncoder();
    const outputs: Tensor[] = [];
    let at = 0;
    for (const n of sizes) {
      const y = engine.empty([n, ...x.shape.slice(1)]);
      if (y.size > 0) encoder.copyBufferToBuffer(x.buffer, at * 4, y.buffer, 0, y.byteLength);
      at += n * rowElems;
      outputs.push(y);
    }
    return { outputs };
  },
  backward({ engine, inputs: [x], gradOutputs, attrs: { sizes } }) {
    const rowElems = x.size / x.shape[0];
    const gx = engine.empty(x.shape);
    let at = 0;
    sizes.forEach((n, i) => {
      const g = gradOutputs[i];
      const bytes = n * rowElems * 4;
      if (bytes > 0) {
        if (g) engine.commandEncoder().copyBufferToBuffer(g.buffer, 0, gx.buffer, at * 4, bytes);
        else engine.commandEncoder().clearBuffer(gx.buffer, at * 4, bytes);
      }
      at += n * rowElems;
    });
    return [gx];
  },
});

/**
 * Splits `x` along its first dimension into consecutive parts of `sizes` rows, like
 * `torch.split(x, sizes, 0)`, by buffer copies; differentiable.
 *
 * @param x A tensor of rank ≥ 1 (f32).
 * @param sizes Row counts summing to `x.shape[0]`.
 * @returns One tensor per part.
 * @throws {ShapeError} when the sizes do not add up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "@vmunet/tensor";
 * import { splitRows } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const [a, b] = splitRows(engine.tensor([1, 2, 3, 4, 5, 6], [3, 2]), [1, 2]);
 * assert.deepEqual(Array.from(await a.read()), [1, 2]);
 * assert.deepEqual(Array.from(await b.read()), [3, 4, 5, 6]);
 * engine.destroy();
 * ```
 */
export function splitRows(x: Tensor, sizes: readonly number[]): Tensor[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (
    x.rank < 1 || total !== x.shape[0] || sizes.some((n) => !Number.isInteger(n) || n < 0) ||
    x.dtype !== "f32"
  ) {
    throw new ShapeError(
      "splitRows",
      `cannot split f32 rows of ${x.dtype}${formatShape(x.shape)} into [${sizes}]`,
    );
  }
  return splitOp([x], { sizes: [...sizes] });
}
