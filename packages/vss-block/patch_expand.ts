/**
 * The decoder's upsamplers (docs/spec.md §2.5): PatchExpand2D (Linear 2D → 4D, 2×2 pixel
 * shuffle, LayerNorm(D)) and Final_PatchExpand2D (Linear d → 4d, 4×4 pixel shuffle,
 * LayerNorm(d/4)).
 *
 * @module
 */

import {
  layerNorm,
  linear,
  permute,
  pixelShuffle,
  reshape,
  ShapeError,
  type Tensor,
} from "@vmunet/tensor";
import { formatShape } from "@vmunet/tensor/kernels";
import { BaseModule, type ParameterFactory } from "./module.ts";
import { expectChannelsLast } from "./_checks.ts";

/** Shared by the upsamplers: Linear (no bias) → `b h w (p1 p2 c) -> b (h p1) (w p2) c` → LayerNorm(c). */
export abstract class ExpandBase extends BaseModule {
  /** Input width. */
  readonly inDim: number;
  /** Output width. */
  readonly outDim: number;
  /** Upscaling factor. */
  readonly scale: number;
  /** `expand.weight (scale²·out, in)`. */
  readonly expandWeight: Tensor;
  /** `norm.weight (out)`. */
  readonly normWeight: Tensor;
  /** `norm.bias (out)`. */
  readonly normBias: Tensor;
  readonly #name: string;

  /**
   * Creates the parameters (Linear trunc-normal std 0.02, LayerNorm 1/0).
   *
   * @param f Parameter factory.
   * @param name Class name quoted in errors.
   * @param inDim Input width.
   * @param outDim Output width.
   * @param scale Upscaling factor.
   */
  constructor(f: ParameterFactory, name: string, inDim: number, outDim: number, scale: number) {
    super(f);
    this.#name = name;
    this.inDim = inDim;
    this.outDim = outDim;
    this.scale = scale;
    this.expandWeight = this.linearWeight("expand", scale * scale * outDim, inDim);
    [this.normWeight, this.normBias] = this.layerNorm("norm", outDim);
  }

  /**
   * Expand, shuffle, normalise.
   *
   * @param x `(B, H, W, in)`.
   * @returns `(B, scale·H, scale·W, out)`.
   * @throws {ShapeError} when the width is not `in`.
   */
  forward(x: Tensor): Tensor {
    expectChannelsLast(this.#name, x, this.inDim);
    const shuffled = pixelShuffle(linear(x, this.expandWeight), this.scale);
    return layerNorm(shuffled, this.normWeight, this.normBias, 1e-5);
  }
}

/**
 * PatchExpand2D(dim = D): `(B, H, W, 2D)` → `(B, 2H, 2W, D)`, with `expand.weight (4D, 2D)`
 * and `norm.{weight,bias} (D)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, Rng } from "@vmunet/tensor";
 * import { ParameterFactory, PatchExpand2D } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const up = new PatchExpand2D(new ParameterFactory(engine, new Rng(0)), { dim: 8 });
 * assert.deepEqual(up.forward(engine.full([1, 2, 3, 16], 1)).shape, [1, 4, 6, 8]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 */
export class PatchExpand2D extends ExpandBase {
  /**
   * Creates the parameters (Linear trunc-normal std 0.02, LayerNorm 1/0).
   *
   * @param f Parameter factory.
   * @param options `dim` = D, the output width (input is 2D).
   */
  constructor(f: ParameterFactory, options: { dim: number }) {
    super(f, "PatchExpand2D", 2 * options.dim, options.dim, 2);
  }
}

/**
 * Final_PatchExpand2D(dim = d): `(B, H, W, d)` → `(B, 4H, 4W, d/4)`, with
 * `expand.weight (4d, d)` and `norm.{weight,bias} (d/4)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, Rng } from "@vmunet/tensor";
 * import { FinalPatchExpand2D, ParameterFactory } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const up = new FinalPatchExpand2D(new ParameterFactory(engine, new Rng(0)), { dim: 8 });
 * assert.deepEqual(up.forward(engine.full([1, 2, 3, 8], 1)).shape, [1, 8, 12, 2]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 */
export class FinalPatchExpand2D extends ExpandBase {
  /**
   * Creates the parameters.
   *
   * @param f Parameter factory.
   * @param options `dim` = d (a multiple of 4).
   * @throws {RangeError} when d is not a multiple of 4.
   */
  constructor(f: ParameterFactory, options: { dim: number }) {
    if (options.dim % 4 !== 0) {
      throw new RangeError(`FinalPatchExpand2D: dim must be a multiple of 4, got ${options.dim}`);
    }
    super(f, "FinalPatchExpand2D", options.dim, options.dim / 4, 4);
  }

  /**
   * This block followed by VM-UNet's `final_conv` (1×1 conv to NCHW), computed without
   * moving the d/4-channel features: LayerNorm and the 1×1 conv act per output pixel, so
   * they run on the unshuffled `(B, H, W, 16, d/4)` groups and only the `nc`-channel
   * result is rearranged to `(B, nc, 4H, 4W)` — the same numbers as
   * `conv1x1(forward(x), weight, bias)` with a 16·d/(4·nc)-times smaller layout change.
   *
   * @param x `(B, H, W, d)`.
   * @param weight `final_conv.weight (nc, d/4, 1, 1)`.
   * @param bias `final_conv.bias (nc)`.
   * @returns Logits `(B, nc, 4H, 4W)`.
   * @throws {ShapeError} when the shapes do not fit.
   */
  forwardToLogits(x: Tensor, weight: Tensor, bias: Tensor): Tensor {
    const c = this.outDim;
    expectChannelsLast("FinalPatchExpand2D", x, this.inDim);
    const nc = weight.shape[0];
    if (weight.shape.join() !== [nc, c, 1, 1].join() || bias.shape.join() !== String(nc)) {
      throw new ShapeError(
        "FinalPatchExpand2D",
        `final conv must be (nc, ${c}, 1, 1) with bias (nc), got ${formatShape(weight.shape)} ` +
          `and ${formatShape(bias.shape)}`,
      );
    }
    const [b, h, w] = x.shape;
    const groups = reshape(linear(x, this.expandWeight), [b, h, w, 16, c]);
    const normed = layerNorm(groups, this.normWeight, this.normBias, 1e-5);
    const head = linear(normed, reshape(weight, [nc, c]), bias); // (B, H, W, 16, nc)
    // (b, h, w, p1, p2, o) → (b, o, h, p1, w, p2) = out[b, o, 4h + p1, 4w + p2].
    const moved = permute(reshape(head, [b, h, w, 4, 4, nc]), [0, 5, 1, 3, 2, 4]);
    return reshape(moved, [b, nc, 4 * h, 4 * w]);
  }
}
