/**
 * Inference for evaluation: one forward pass in evaluation mode read back to the CPU (with the
 * official loss when a target is given), and the argmax decision on logits as `torch.argmax`
 * takes it (the CPU twin of {@linkcode decideLabels}).
 *
 * @module
 */

import { bceDiceLoss, ceDiceLoss, type Tensor } from "@vmunet/tensor";
import type { VMUNet } from "../model.ts";

/**
 * Runs the model in evaluation mode on a batch and reads its output back: probabilities
 * `(B,1,H,W)` for one class, logits `(B,nc,H,W)` otherwise. With a target, also computes the
 * official loss on the GPU.
 *
 * @param model The model.
 * @param images `(B,C,H,W)` images.
 * @param shape `[B, C, H, W]`.
 * @param target Optional target (binary masks or labels) for the loss.
 * @param lossWeights `[BCE or CE, Dice]` weights.
 * @returns The output values and the loss (NaN without a target).
 */
export async function inferBatch(
  model: VMUNet,
  images: Float32Array,
  shape: readonly number[],
  target?: Float32Array | Int32Array,
  lossWeights: readonly [number, number] = [1, 1],
): Promise<{ output: Float32Array; loss: number }> {
  const engine = model.engine;
  const [b, , h, w] = shape;
  const [output, loss] = engine.noGrad(() =>
    engine.scope(() => {
      const x = engine.tensor(images, [...shape]);
      const out = model.forward(x, { training: false }).output;
      let l: Tensor | null = null;
      if (target) {
        l = target instanceof Float32Array
          ? bceDiceLoss(out, engine.tensor(target, [b, 1, h, w]), {
            wb: lossWeights[0],
            wd: lossWeights[1],
          })
          : ceDiceLoss(out, engine.tensor(target, [b, h, w], { dtype: "i32" }), {
            wce: lossWeights[0],
            wdice: lossWeights[1],
          });
      }
      return [out, l] as [Tensor, Tensor | null];
    })
  );
  // Both readbacks in one wait: one GPU→CPU sync per batch, not two.
  const [values, lossValues] = await Promise.all([output.read(), loss?.read()]);
  output.dispose();
  loss?.dispose();
  return { output: values as Float32Array, loss: lossValues ? lossValues[0] : NaN };
}

/** Class ids `(B,H,W)` of logits `(B,nc,H,W)` (first maximum, as `torch.argmax`). */
export function argmaxClasses(
  logits: Float32Array,
  b: number,
  nc: number,
  plane: number,
): Int32Array {
  const out = new Int32Array(b * plane);
  for (let i = 0; i < b; i++) {
    const base = i * nc * plane;
    for (let p = 0; p < plane; p++) {
      let best = 0, bestValue = logits[base + p];
      for (let c = 1; c < nc; c++) {
        const v = logits[base + c * plane + p];
        if (v > bestValue) {
          bestValue = v;
          best = c;
        }
      }
      out[i * plane + p] = best;
    }
  }
  return out;
}
