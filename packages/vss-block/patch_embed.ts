/**
 * PatchEmbed2D: the 4×4 patchify convolution from NCHW input to channels-last features,
 * then LayerNorm (docs/spec.md §2.3).
 *
 * @module
 */

import { layerNorm, patchifyConv, ShapeError, type Tensor } from "@vmunet/tensor";
import { formatShape } from "@vmunet/tensor/kernels";
import { BaseModule, type ParameterFactory } from "./module.ts";

/** Options of {@linkcode PatchEmbed2D}. */
export interface PatchEmbed2DOptions {
  /** Output width (`embed_dim`). */
  embedDim: number;
  /** Input channels (default 3). */
  inChannels?: number;
  /** Patch size (default 4). */
  patchSize?: number;
}

/**
 * `proj` = Conv2d(in, embed, k = s = patch) with bias, `norm` = LayerNorm(embed): NCHW in,
 * `(B, H/p, W/p, embed)` out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, Rng } from "@vmunet/tensor";
 * import { ParameterFactory, PatchEmbed2D } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const embed = new PatchEmbed2D(new ParameterFactory(engine, new Rng(0)), { embedDim: 8 });
 * assert.deepEqual(embed.forward(engine.full([2, 3, 16, 8], 1)).shape, [2, 4, 2, 8]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 */
export class PatchEmbed2D extends BaseModule {
  /** Output width. */
  readonly embedDim: number;
  /** Input channels. */
  readonly inChannels: number;
  /** Patch size. */
  readonly patchSize: number;
  /** `proj.weight (embed, in, p, p)`. */
  readonly projWeight: Tensor;
  /** `proj.bias (embed)`. */
  readonly projBias: Tensor;
  /** `norm.weight (embed)`. */
  readonly normWeight: Tensor;
  /** `norm.bias (embed)`. */
  readonly normBias: Tensor;

  /**
   * Creates the parameters (conv: PyTorch default kaiming-uniform a = √5 and fan-in bias;
   * LayerNorm 1/0).
   *
   * @param f Parameter factory.
   * @param options Widths and patch size.
   */
  constructor(f: ParameterFactory, options: PatchEmbed2DOptions) {
    super(f);
    const e = options.embedDim, ci = options.inChannels ?? 3, p = options.patchSize ?? 4;
    this.embedDim = e;
    this.inChannels = ci;
    this.patchSize = p;
    [this.projWeight, this.projBias] = this.conv2d("proj", [e, ci, p, p]);
    [this.normWeight, this.normBias] = this.layerNorm("norm", e);
  }

  /**
   * Patchify + LayerNorm.
   *
   * @param x `(B, in, H, W)` NCHW.
   * @returns `(B, ⌊H/p⌋, ⌊W/p⌋, embed)`.
   * @throws {ShapeError} when `x` does not have `inChannels` channels.
   */
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.inChannels) {
      throw new ShapeError(
        "PatchEmbed2D",
        `input must be NCHW (B, ${this.inChannels}, H, W), got ${formatShape(x.shape)}`,
      );
    }
    return layerNorm(
      patchifyConv(x, this.projWeight, this.projBias),
      this.normWeight,
      this.normBias,
    );
  }
}
