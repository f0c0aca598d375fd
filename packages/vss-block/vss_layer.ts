/**
 * The stages of VM-UNet: an encoder `VSSLayer` (VSS blocks, then an optional
 * PatchMerging2D) and a decoder `VSSLayerUp` (an optional PatchExpand2D, then VSS blocks).
 *
 * @module
 */

import type { Tensor } from "@vmunet/tensor";
import { type ForwardOptions, type Module, type ParameterFactory, prefixed } from "./module.ts";
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

function makeBlocks(f: ParameterFactory, options: VSSLayerOptions): VSSBlock[] {
  const rates = options.dropPath ?? [];
  if (rates.length !== 0 && rates.length !== options.depth) {
    throw new RangeError(
      `VSSLayer: dropPath lists ${rates.length} rates for ${options.depth} blocks`,
    );
  }
  const blocks: VSSBlock[] = [];
  for (let j = 0; j < options.depth; j++) {
    blocks.push(
      new VSSBlock(f.child(`blocks.${j}`), {
        dModel: options.dim,
        dState: options.dState,
        dropPath: rates[j] ?? 0,
      }),
    );
  }
  return blocks;
}

function blockParameters(blocks: readonly VSSBlock[]): [string, Tensor][] {
  return blocks.flatMap((b, j) => prefixed(`blocks.${j}`, b.namedParameters()));
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
export class VSSLayer implements Module {
  /** The blocks. */
  readonly blocks: VSSBlock[];
  /** The downsampler, if any. */
  readonly downsample: PatchMerging2D | null;

  /**
   * Creates the stage.
   *
   * @param f Parameter factory.
   * @param options Width, depth, state size, drop rates, and `downsample`.
   */
  constructor(f: ParameterFactory, options: VSSLayerOptions & { downsample?: boolean }) {
    this.blocks = makeBlocks(f, options);
    this.downsample = options.downsample
      ? new PatchMerging2D(f.child("downsample"), { dim: options.dim })
      : null;
  }

  /** The parameters in the official `state_dict` order. */
  namedParameters(): [string, Tensor][] {
    return [
      ...blockParameters(this.blocks),
      ...(this.downsample ? prefixed("downsample", this.downsample.namedParameters()) : []),
    ];
  }

  /**
   * Blocks, then downsampling.
   *
   * @param x `(B, H, W, C)`.
   * @param options Training flag and DropPath generator.
   * @returns `(B, H, W, C)`, or `(B, H/2, W/2, 2C)` with downsampling.
   */
  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    for (const block of this.blocks) x = block.forward(x, options);
    return this.downsample ? this.downsample.forward(x) : x;
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
export class VSSLayerUp implements Module {
  /** The upsampler, if any. */
  readonly upsample: PatchExpand2D | null;
  /** The blocks. */
  readonly blocks: VSSBlock[];

  /**
   * Creates the stage.
   *
   * @param f Parameter factory.
   * @param options Width, depth, state size, drop rates, and `upsample`.
   */
  constructor(f: ParameterFactory, options: VSSLayerOptions & { upsample?: boolean }) {
    this.blocks = makeBlocks(f, options);
    this.upsample = options.upsample
      ? new PatchExpand2D(f.child("upsample"), { dim: options.dim })
      : null;
  }

  /** The parameters in the official `state_dict` order (blocks first, as PyTorch lists them). */
  namedParameters(): [string, Tensor][] {
    return [
      ...blockParameters(this.blocks),
      ...(this.upsample ? prefixed("upsample", this.upsample.namedParameters()) : []),
    ];
  }

  /**
   * Upsampling, then blocks.
   *
   * @param x `(B, H, W, 2C)` with upsampling, else `(B, H, W, C)`.
   * @param options Training flag and DropPath generator.
   * @returns `(B, 2H, 2W, C)` with upsampling, else `(B, H, W, C)`.
   */
  forward(x: Tensor, options: ForwardOptions = {}): Tensor {
    if (this.upsample) x = this.upsample.forward(x);
    for (const block of this.blocks) x = block.forward(x, options);
    return x;
  }
}
