/**
 * The VSS block: `x + DropPath(SS2D(LN(x)))` (docs/spec.md §3.1; no MLP).
 *
 * @module
 */

import { add, layerNorm, residualDropPath, type Tensor } from "@vmunet/tensor";
import { BaseModule, type ForwardOptions, type ParameterFactory } from "./module.ts";
import { SS2D } from "./ss2d.ts";
import { expectChannelsLast } from "./_checks.ts";

/** Options of {@linkcode VSSBlock}. */
export interface VSSBlockOptions {
  /** Width C. */
  dModel: number;
  /** SSM state size N (default 16). */
  dState?: number;
  /** Stochastic-depth rate of this block (default 0). */
  dropPath?: number;
}

/**
 * A VSS block with parameters `ln_1.{weight,bias}` and `self_attention.*` (SS2D).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, Rng } from "@vmunet/tensor";
 * import { ParameterFactory, VSSBlock } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const block = new VSSBlock(new ParameterFactory(engine, new Rng(0)), { dModel: 8, dState: 4 });
 * assert.equal(block.namedParameters().length, 13);
 * assert.deepEqual(block.forward(engine.full([1, 4, 4, 8], 0.5)).shape, [1, 4, 4, 8]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 */
export class VSSBlock extends BaseModule {
  /** Width C. */
  readonly dModel: number;
  /** Stochastic-depth rate. */
  readonly dropPath: number;
  /** `ln_1.weight (C)`. */
  readonly ln1Weight: Tensor;
  /** `ln_1.bias (C)`. */
  readonly ln1Bias: Tensor;
  /** `self_attention`: the SS2D mixer. */
  readonly selfAttention: SS2D;

  /**
   * Creates the parameters (LayerNorm 1/0, SS2D as {@linkcode SS2D}).
   *
   * @param f Parameter factory.
   * @param options Width, state size, drop rate.
   */
  constructor(f: ParameterFactory, options: VSSBlockOptions) {
    super(f);
    const c = options.dModel;
    this.dModel = c;
    this.dropPath = options.dropPath ?? 0;
    if (!(this.dropPath >= 0 && this.dropPath < 1)) {
      throw new RangeError(`VSSBlock: dropPath must be in [0, 1), got ${this.dropPath}`);
    }
    [this.ln1Weight, this.ln1Bias] = this.layerNorm("ln_1", c);
    this.selfAttention = this.submodule(
      "self_attention",
      (g) => new SS2D(g, { dModel: c, dState: options.dState }),
    );
  }

  /**
   * `x + DropPath(SS2D(LN(x)))`.
   *
   * @param x `(B, H, W, C)`.
   * @param options Training flag and DropPath generator.
   * @returns `(B, H, W, C)`.
   * @throws {ShapeError} for a wrong input shape; {@linkcode RangeError} when DropPath is
   *   active without a generator.
   */
  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    expectChannelsLast("VSSBlock", x, this.dModel);
    const engine = x.engine;
    // Without the tape nothing needs the block's temporaries afterwards: free them at once.
    if (!engine.gradEnabled) return engine.scope(() => this.#residual(x, options));
    return this.#residual(x, options);
  }

  #residual(x: Tensor, options: ForwardOptions): Tensor {
    const training = options.training ?? true;
    const mixed = this.selfAttention.forward(layerNorm(x, this.ln1Weight, this.ln1Bias, 1e-5));
    if (this.dropPath === 0 || !training) return add(x, mixed);
    if (!options.rng) {
      throw new RangeError(
        `VSSBlock: drop path ${this.dropPath} in training needs options.rng (a seeded Rng)`,
      );
    }
    // x + DropPath(mixed) in one kernel (same mask and generator use as dropPath).
    return residualDropPath(x, mixed, { p: this.dropPath, rng: options.rng, training });
  }
}
