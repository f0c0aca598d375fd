/**
 * PatchMerging2D: 2×2 neighbourhoods concatenated in the official order, LayerNorm(4C),
 * Linear(4C → 2C, no bias) (docs/spec.md §2.4).
 *
 * @module
 */

import {
  layerNorm,
  linear,
  permute,
  reshape,
  ShapeError,
  slice,
  type Tensor,
} from "@vmunet/tensor";
import { formatShape } from "@vmunet/tensor/kernels";
import { BaseModule, type ParameterFactory } from "./module.ts";
import { expectChannelsLast } from "./_checks.ts";

/**
 * The official `cat([x[:,0::2,0::2], x[:,1::2,0::2], x[:,0::2,1::2], x[:,1::2,1::2]], -1)`
 * as one permute: `out[b, i, j, (2·q + p)·C + c] = x[b, 2i + p, 2j + q, c]`. Odd heights or
 * widths drop the last row/column, as the official code does.
 *
 * @param x `(B, H, W, C)`.
 * @returns `(B, ⌊H/2⌋, ⌊W/2⌋, 4C)`.
 * @throws {ShapeError} when `x` is not rank 4 or smaller than 2×2.
 */
export function mergePatches(x: Tensor): Tensor {
  if (x.rank !== 4 || x.shape[1] < 2 || x.shape[2] < 2) {
    throw new ShapeError(
      "PatchMerging2D",
      `input must be (B, H ≥ 2, W ≥ 2, C), got ${formatShape(x.shape)}`,
    );
  }
  const [b, h, w, c] = x.shape;
  const h2 = Math.floor(h / 2), w2 = Math.floor(w / 2);
  const even = h % 2 === 0 && w % 2 === 0 ? x : slice(x, [{}, { stop: 2 * h2 }, { stop: 2 * w2 }]);
  const six = reshape(even, [b, h2, 2, w2, 2, c]);
  return reshape(permute(six, [0, 1, 3, 4, 2, 5]), [b, h2, w2, 4 * c]);
}

/**
 * PatchMerging2D(C) with `reduction.weight (2C, 4C)` and `norm.{weight,bias} (4C)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, Rng } from "@vmunet/tensor";
 * import { ParameterFactory, PatchMerging2D } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const merge = new PatchMerging2D(new ParameterFactory(engine, new Rng(0)), { dim: 8 });
 * assert.deepEqual(merge.forward(engine.full([1, 4, 6, 8], 1)).shape, [1, 2, 3, 16]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 */
export class PatchMerging2D extends BaseModule {
  /** Input width C. */
  readonly dim: number;
  /** `reduction.weight (2C, 4C)`. */
  readonly reductionWeight: Tensor;
  /** `norm.weight (4C)`. */
  readonly normWeight: Tensor;
  /** `norm.bias (4C)`. */
  readonly normBias: Tensor;

  /**
   * Creates the parameters (Linear trunc-normal std 0.02, LayerNorm 1/0).
   *
   * @param f Parameter factory.
   * @param options Input width.
   */
  constructor(f: ParameterFactory, options: { dim: number }) {
    super(f);
    const c = options.dim;
    this.dim = c;
    this.reductionWeight = this.linearWeight("reduction", 2 * c, 4 * c);
    [this.normWeight, this.normBias] = this.layerNorm("norm", 4 * c);
  }

  /**
   * Merge 2×2, normalise, reduce.
   *
   * @param x `(B, H, W, C)`.
   * @returns `(B, ⌊H/2⌋, ⌊W/2⌋, 2C)`.
   * @throws {ShapeError} when the width is not C.
   */
  forward(x: Tensor): Tensor {
    expectChannelsLast("PatchMerging2D", x, this.dim);
    const merged = mergePatches(x);
    return linear(layerNorm(merged, this.normWeight, this.normBias, 1e-5), this.reductionWeight);
  }
}
