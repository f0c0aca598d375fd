/**
 * Segmentation of one decoded image as `deno task predict` does it: the evaluation
 * preprocessing of the training data (resize to the model's input, the ISIC normalisation for
 * RGB models; grey levels in [0, 1] for one-channel models), one forward pass, and the
 * decision at the image's own size (probabilities resized back bilinearly then thresholded for
 * one class; argmax then nearest resize for several). The page and the CLI share it, so the
 * same checkpoint and image give the same mask.
 *
 * @module
 */

import {
  encodeMaskPng,
  encodeOverlayPng,
  ISIC_NORMALIZATION,
  preprocessPair,
  type RasterImage,
  resizeBilinear,
  resizeNearest,
  resolvePreprocess,
  toGrey8,
  toRgb8,
} from "@vmunet/datasets";
import type { VMUNet } from "../model.ts";
import { argmaxClasses, inferBatch } from "./infer.ts";

/** Options of {@linkcode segmentImage}. */
export interface SegmentImageOptions {
  /** The model's square input size (the run's `imageSize`). */
  size: number;
  /** Decision threshold on the probability for one class (default 0.5). */
  threshold?: number;
}

/** A segmented image, at the image's own size. */
export interface ImageSegmentation {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Threshold used for one class. */
  threshold: number;
  /** `(H·W)` foreground probabilities (one class), or null (several classes). */
  probabilities: Float32Array | null;
  /** `(H·W)` class ids (0/1 for one class). */
  labels: Int32Array;
  /** The image as planar RGB `(3, H, W)` in [0, 255], for overlays. */
  rgb: Float32Array;
  /** The model's output at its input size: `(1, nc, size, size)` probabilities or logits. */
  output: Float32Array;
}

/**
 * Segments one decoded image with the model.
 *
 * @param model The model (evaluation mode is used).
 * @param raster The decoded image (any size, grey or RGB, 8 or 16 bits).
 * @param options Input size and threshold.
 * @returns Probabilities, labels and the RGB image at the image's size.
 *
 * @example
 * ```ts
 * import { Engine } from "@vmunet/tensor";
 * import { preset, VMUNet } from "@vmunet/vmunet";
 * import { segmentImage } from "@vmunet/vmunet/training";
 * const engine = await Engine.create();
 * const model = VMUNet.create(engine, preset("vmunet-t", { dims: 8 }), { seed: 0 });
 * const raster = {
 *   file: "a.png", width: 40, height: 30, channels: 3, bitDepth: 8,
 *   data: new Uint8Array(40 * 30 * 3).fill(128),
 * };
 * const s = await segmentImage(model, raster, { size: 32 });
 * if (s.labels.length !== 40 * 30 || s.probabilities?.length !== 40 * 30) throw new Error();
 * await engine.close();
 * ```
 */
export async function segmentImage(
  model: VMUNet,
  raster: RasterImage,
  options: SegmentImageOptions,
): Promise<ImageSegmentation> {
  const { size } = options;
  const threshold = options.threshold ?? 0.5;
  const { width: w, height: h } = raster;
  const { inChannels, numClasses } = model.config;
  const rgb8 = toRgb8(raster);
  let input: Float32Array;
  if (inChannels === 3) {
    const p = resolvePreprocess({ size, augment: false }, false, 1, ISIC_NORMALIZATION.isic18.test);
    const none = { hflip: false, vflip: false, angle: null };
    input = preprocessPair(rgb8, new Uint8Array(w * h), h, w, p, none, raster.file).image;
  } else {
    const unit = Float32Array.from(toGrey8(raster), (v) => v / 255);
    input = resizeBilinear(unit, 1, h, w, size, size) as Float32Array;
  }
  const { output } = await inferBatch(model, input, [1, inChannels, size, size]);
  const rgb = new Float32Array(3 * w * h);
  for (let i = 0; i < w * h; i++) {
    for (let c = 0; c < 3; c++) rgb[c * w * h + i] = rgb8[i * 3 + c];
  }
  if (numClasses === 1) {
    const probabilities = resizeBilinear(output, 1, size, size, h, w) as Float32Array;
    const labels = Int32Array.from(probabilities, (v) => (v >= threshold ? 1 : 0));
    return { width: w, height: h, threshold, probabilities, labels, rgb, output };
  }
  const small = argmaxClasses(output, 1, numClasses, size * size);
  const labels = resizeNearest(small, 1, size, size, h, w) as Int32Array;
  return { width: w, height: h, threshold, probabilities: null, labels, rgb, output };
}

/**
 * The mask PNG `deno task predict` writes for a segmentation: 0/255 grey for one class, the
 * class ids with a palette for several.
 *
 * @param s The segmentation.
 * @returns PNG bytes.
 */
export function segmentationMaskPng(s: ImageSegmentation): Uint8Array {
  return s.probabilities
    ? encodeMaskPng(s.probabilities, s.height, s.width, s.threshold)
    : encodeMaskPng(s.labels, s.height, s.width);
}

/**
 * The overlay PNG `deno task predict` writes: the image with the mask blended in colour.
 *
 * @param s The segmentation.
 * @returns PNG bytes.
 */
export function segmentationOverlayPng(s: ImageSegmentation): Uint8Array {
  const mask = s.probabilities ? Float32Array.from(s.labels) : s.labels;
  return encodeOverlayPng(s.rgb, 3, mask, s.height, s.width);
}
