/**
 * The stages of VM-UNet: an encoder `VSSLayer` (VSS blocks, then an optional
 * PatchMerging2D) and a decoder `VSSLayerUp` (an optional PatchExpand2D, then VSS blocks).
 *
 * @module
 */

import type { Tensor } from "@vmunet/tensor";
import { BaseModule, type ForwardOptions, type ParameterFactory } from "./module.ts";
import { PatchExpand2D } from "./patch_expand.ts";
import { PatchMerging2D } from "./patch_merging.ts";
import { VSSBlock } from "./vss_block.ts";

/** Options of {@linkcode VSSLayer} and {@linkcode VSSLayerUp}. */
export interface VSSLayerOptions {
  /** Width C of the blocks. */
  dim: number;
  /** Number of VSS blocks. */
  depth: number;
  /** SSM state size N (default 16). */
  dState?: number;
  /** Drop rate per block (length `depth`; default all 0). */
  dropPath?: readonly number[];
}

/**
 * What the encoder and decoder stages share: `depth` VSS blocks of width C under
 * `blocks.j.*`, registered first (the official `state_dict` lists them before the
 * resampler in both stages).
 */
export abstract class VSSStage extends BaseModule {
  /** The blocks. */
  readonly blocks: VSSBlock[];

  /**
   * Creates the blocks.
   *
   * @param f Parameter factory.
   * @param options Width, depth, state size, drop rates.
   * @throws {RangeError} when `dropPath` does not list one rate per block.
   */
  constructor(f: ParameterFactory, options: VSSLayerOptions) {
    super(f);
    const rates = options.dropPath ?? [];
    if (rates.length !== 0 && rates.length !== options.depth) {
      throw new RangeError(
        `VSSLayer: dropPath lists ${rates.length} rates for ${options.depth} blocks`,
      );
    }
    this.blocks = [];
    for (let j = 0; j < options.depth; j++) {
      const block = { dModel: options.dim, dState: options.dState, dropPath: rates[j] ?? 0 };
      this.blocks.push(this.submodule(`blocks.${j}`, (g) => new VSSBlock(g, block)));
    }
  }

  /**
   * The blocks in sequence.
   *
   * @param x `(B, H, W, C)`.
   * @param options Training flag and DropPath generator.
   * @returns `(B, H, W, C)`.
   */
  protected runBlocks(x: Tensor, options: ForwardOptions): Tensor {
    for (const block of this.blocks) x = block.forward(x, options);
    return x;
  }
}

/**
 * An encoder stage: `depth` VSS blocks of width C, then PatchMerging2D(C) when
 * `downsample` is set (keys `blocks.j.*`, `downsample.*`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, Rng } from "@vmunet/tensor";
 * import { ParameterFactory, VSSLayer } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const layer = new VSSLayer(new ParameterFactory(engine, new Rng(0)), {
 *   dim: 8, depth: 1, dState: 4, downsample: true,
 * });
 * assert.deepEqual(layer.forward(engine.full([1, 4, 4, 8], 1)).shape, [1, 2, 2, 16]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 */
export class VSSLayer extends VSSStage {
  /** The downsampler, if any. */
  readonly downsample: PatchMerging2D | null;

  /**
   * Creates the stage.
   *
   * @param f Parameter factory.
   * @param options Width, depth, state size, drop rates, and `downsample`.
   */
  constructor(f: ParameterFactory, options: VSSLayerOptions & { downsample?: boolean }) {
    super(f, options);
    this.downsample = options.downsample
      ? this.submodule("downsample", (g) => new PatchMerging2D(g, { dim: options.dim }))
      : null;
  }

  /**
   * Blocks, then downsampling.
   *
   * @param x `(B, H, W, C)`.
   * @param options Training flag and DropPath generator.
   * @returns `(B, H, W, C)`, or `(B, H/2, W/2, 2C)` with downsampling.
   */
  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    const y = this.runBlocks(x, options);
    return this.downsample ? this.downsample.forward(y) : y;
  }
}

/**
 * A decoder stage (`VSSLayer_up`): PatchExpand2D(C) when `upsample` is set (input width
 * 2C), then `depth` VSS blocks of width C (keys `blocks.j.*`, `upsample.*`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, Rng } from "@vmunet/tensor";
 * import { ParameterFactory, VSSLayerUp } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const layer = new VSSLayerUp(new ParameterFactory(engine, new Rng(0)), {
 *   dim: 8, depth: 1, dState: 4, upsample: true,
 * });
 * assert.deepEqual(layer.forward(engine.full([1, 2, 2, 16], 1)).shape, [1, 4, 4, 8]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 */
export class VSSLayerUp extends VSSStage {
  /** The upsampler, if any. */
  readonly upsample: PatchExpand2D | null;

  /**
   * Creates the stage.
   *
   * @param f Parameter factory.
   * @param options Width, depth, state size, drop rates, and `upsample`.
   */
  constructor(f: ParameterFactory, options: VSSLayerOptions & { upsample?: boolean }) {
    super(f, options);
    // Made after the blocks although it runs first, as the official code registers (and
    // lists) it.
    this.upsample = options.upsample
      ? this.submodule("upsample", (g) => new PatchExpand2D(g, { dim: options.dim }))
      : null;
  }

  /**
   * Upsampling, then blocks.
   *
   * @param x `(B, H, W, 2C)` with upsampling, else `(B, H, W, C)`.
   * @param options Training flag and DropPath generator.
   * @returns `(B, 2H, 2W, C)` with upsampling, else `(B, H, W, C)`.
   */
  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    return this.runBlocks(this.upsample ? this.upsample.forward(x) : x, options);
  }
}
