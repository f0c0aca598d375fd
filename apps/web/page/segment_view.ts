/**
 * The segment panel: each dropped image is decoded, segmented by the package's
 * `segmentImage` (the preprocessing and resize-back of `deno task predict`) and shown with
 * its mask overlaid (opacity slider), the time it took, a download of the mask PNG (the
 * CLI's bytes) and, when a ground-truth mask came with it, its Dice and IoU.
 *
 * @module
 */

import { classColour, decodeImage, type RasterImage, toRgb8 } from "@vmunet/datasets";
import { imageDiceIou, perClassMetrics } from "@vmunet/metrics";
import { type ImageSegmentation, segmentationMaskPng, segmentImage } from "@vmunet/vmunet/training";
import type { PageModel } from "./checkpoint.ts";

/** One segmented image as the page keeps it. */
export interface SegmentedImage {
  /** File name. */
  name: string;
  /** The segmentation. */
  segmentation: ImageSegmentation;
  /** The mask PNG (what `deno task predict` writes). */
  maskPng: Uint8Array;
  /** Milliseconds of preprocessing, forward and decision. */
  milliseconds: number;
  /** Dice and IoU against the ground truth, when given. */
  scores?: { dice: number; iou?: number };
}

const MASK_SUFFIX = /[_-](mask|segmentation|gt|label)$/i;

function stemOf(name: string): string {
  return name.replace(/\.[^.]+$/, "");
}

/**
 * Pairs images with ground-truth masks by name: `NAME_mask.png` (or `_segmentation`, `_gt`,
 * `_label`) is the truth of `NAME.png`.
 *
 * @param files Dropped files.
 * @returns Images, each with its mask file when one came.
 */
export function pairFiles(files: readonly File[]): { image: File; truth?: File }[] {
  const masks = new Map<string, File>();
  const images: File[] = [];
  for (const f of files) {
    const stem = stemOf(f.name);
    if (MASK_SUFFIX.test(stem)) masks.set(stem.replace(MASK_SUFFIX, ""), f);
    else images.push(f);
  }
  return images.map((image) => ({ image, truth: masks.get(stemOf(image.name)) }));
}

/** Class ids of a ground-truth mask: palette indices, or grey levels above 127 as 1. */
function truthLabels(raster: RasterImage): Int32Array {
  if (raster.indices) return Int32Array.from(raster.indices);
  const rgb = toRgb8(raster);
  const out = new Int32Array(raster.width * raster.height);
  for (let i = 0; i < out.length; i++) out[i] = rgb[3 * i] > 127 ? 1 : 0;
  return out;
}

/**
 * Dice and IoU of a segmentation against a ground-truth mask of the same size.
 *
 * @param s The segmentation.
 * @param truth The decoded mask.
 * @param numClasses The model's classes.
 * @returns Dice and IoU (binary), or the mean Dice over classes.
 * @throws {Error} when the mask's size differs from the image's.
 */
export function scoreAgainst(
  s: ImageSegmentation,
  truth: RasterImage,
  numClasses: number,
): { dice: number; iou?: number } {
  if (truth.width !== s.width || truth.height !== s.height) {
    throw new Error(
      `${truth.file}: the mask is ${truth.width}×${truth.height} but the image is ${s.width}×${s.height}`,
    );
  }
  const labels = truthLabels(truth);
  if (s.probabilities) {
    const { dice, iou } = imageDiceIou(s.probabilities, labels, { threshold: s.threshold });
    return { dice, iou };
  }
  const classes = perClassMetrics(
    { data: s.labels, shape: [s.height, s.width] },
    { data: labels, shape: [s.height, s.width] },
    { classes: numClasses, outOfRangeLabels: "ignore" },
  );
  return { dice: classes.reduce((a, c) => a + c.dice, 0) / classes.length };
}

/**
 * Decodes and segments one image (and scores it against its mask).
 *
 * @param m The model.
 * @param image The image file.
 * @param truth Its ground-truth mask file, if any.
 * @param size The model's input size.
 * @param threshold The decision threshold.
 * @returns The result.
 */
export async function segmentFile(
  m: PageModel,
  image: File,
  truth: File | undefined,
  size: number,
  threshold: number,
): Promise<SegmentedImage> {
  const raster = await decodeImage(new Uint8Array(await image.arrayBuffer()), image.name);
  const t0 = performance.now();
  const segmentation = await segmentImage(m.model, raster, { size, threshold });
  const milliseconds = performance.now() - t0;
  let scores;
  if (truth) {
    const t = await decodeImage(new Uint8Array(await truth.arrayBuffer()), truth.name);
    scores = scoreAgainst(segmentation, t, m.config.numClasses);
  }
  return {
    name: image.name,
    segmentation,
    maskPng: segmentationMaskPng(segmentation),
    milliseconds,
    scores,
  };
}

function canvasOf(
  width: number,
  height: number,
  rgba: Uint8ClampedArray<ArrayBuffer>,
  cls: string,
): HTMLCanvasElement {
  const c = document.createElement("canvas");
  c.width = width;
  c.height = height;
  c.className = cls;
  c.getContext("2d")!.putImageData(new ImageData(rgba, width, height), 0, 0);
  return c;
}

/** Offers `bytes` as a file download named `name` (typed `type` when given). */
export function download(bytes: Uint8Array, name: string, type?: string): void {
  const blob = new Blob([bytes as BlobPart], type === undefined ? {} : { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * A result card: the image with its mask on top (the mask layer's opacity follows the
 * slider), the timing, the scores and a download button.
 *
 * @param r The result.
 * @returns The card element.
 */
export function resultCard(r: SegmentedImage): HTMLElement {
  const { width: w, height: h, rgb, labels } = r.segmentation;
  const image = new Uint8ClampedArray(w * h * 4);
  const mask = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    for (let c = 0; c < 3; c++) image[4 * i + c] = rgb[c * w * h + i];
    image[4 * i + 3] = 255;
    if (labels[i] > 0) mask.set([...classColour(labels[i]), 255], 4 * i);
  }
  const card = document.createElement("div");
  card.className = "result";
  card.dataset.name = r.name;
  const stack = document.createElement("div");
  stack.className = "stack";
  stack.append(canvasOf(w, h, image, "image"), canvasOf(w, h, mask, "mask"));
  const fg = labels.reduce((a, v) => a + (v > 0 ? 1 : 0), 0);
  const info = document.createElement("div");
  const scores = r.scores
    ? ` · Dice ${(100 * r.scores.dice).toFixed(2)}` +
      (r.scores.iou !== undefined ? ` · IoU ${(100 * r.scores.iou).toFixed(2)}` : "")
    : "";
  info.className = "info";
  info.textContent = `${r.name} ${w}×${h} · ${r.milliseconds.toFixed(0)} ms · foreground ${
    (100 * fg / (w * h)).toFixed(1)
  }%${scores}`;
  const button = document.createElement("button");
  button.textContent = "Download mask PNG";
  button.onclick = () => download(r.maskPng, `${stemOf(r.name)}_mask.png`, "image/png");
  card.append(stack, info, button);
  return card;
}
