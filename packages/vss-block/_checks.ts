/**
 * The input check every channels-last block runs first.
 *
 * @module
 */

import { ShapeError, type Tensor } from "@vmunet/tensor";
import { formatShape } from "@vmunet/tensor/kernels";

/**
 * Throws unless `x` is a channels-last map `(B, H, W, channels)`.
 *
 * @param op The block quoted in the error (`"SS2D"`).
 * @param x The block's input.
 * @param channels The width the block was built for.
 * @throws {ShapeError} naming the block, the expected and the actual shape.
 */
export function expectChannelsLast(op: string, x: Tensor, channels: number): void {
  if (x.rank !== 4 || x.shape[3] !== channels) {
    throw new ShapeError(op, `input must be (B, H, W, ${channels}), got ${formatShape(x.shape)}`);
  }
}
