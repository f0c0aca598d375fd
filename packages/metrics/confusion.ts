/**
 * Binary segmentation metrics pooled over every pixel of every image, as the official ISIC
 * evaluation computes them (`engine.py`: `y_pre = pred >= 0.5`, `y_true = gt >= 0.5`, one
 * `sklearn` confusion matrix over all test pixels). The accumulator streams: feed it one
 * image (or batch) at a time.
 *
 * @module
 */

import {
  InvalidOptionError,
  InvalidValueError,
  MetricsError,
  ShapeMismatchError,
} from "./errors.ts";

/** The four cells of a binary confusion matrix (exact integer counts). */
export interface ConfusionCounts {
  /** Foreground predicted, foreground in truth. */
  tp: number;
  /** Background predicted, background in truth. */
  tn: number;
  /** Foreground predicted, background in truth. */
  fp: number;
  /** Background predicted, foreground in truth. */
  fn: number;
}

/** The official ISIC metrics with the counts they came from. */
export interface BinaryMetrics extends ConfusionCounts {
  /** `TP/(TP+FP+FN)`: foreground IoU (the official code calls it mIoU). */
  miou: number;
  /** `2TP/(2TP+FP+FN)`. */
  dsc: number;
  /** `(TP+TN)/(TP+TN+FP+FN)`. */
  accuracy: number;
  /** `TP/(TP+FN)`. */
  sensitivity: number;
  /** `TN/(TN+FP)`. */
  specificity: number;
}

/** Options of the binary metrics. */
export interface BinaryOptions {
  /** Foreground is `value >= threshold`, for predictions and truth alike. Default 0.5. */
  threshold?: number;
}

function ratio(numerator: number, denominator: number): number {
  return denominator !== 0 ? numerator / denominator : 0;
}

/**
 * The official ISIC metrics from confusion counts, each 0 when its denominator is 0.
 *
 * @param counts The confusion counts.
 * @returns The counts with `miou`, `dsc`, `accuracy`, `sensitivity` and `specificity`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { binaryMetricsFromCounts } from "@vmunet/metrics";
 * const m = binaryMetricsFromCounts({ tp: 3, tn: 5, fp: 1, fn: 1 });
 * assert.equal(m.dsc, 0.75);
 * ```
 */
export function binaryMetricsFromCounts(counts: ConfusionCounts): BinaryMetrics {
  const { tp, tn, fp, fn } = counts;
  return {
    tp,
    tn,
    fp,
    fn,
    miou: ratio(tp, tp + fp + fn),
    dsc: ratio(2 * tp, 2 * tp + fp + fn),
    accuracy: ratio(tn + tp, tp + tn + fp + fn),
    sensitivity: ratio(tp, tp + fn),
    specificity: ratio(tn, tn + fp),
  };
}

function checkThreshold(threshold: number): number {
  if (!Number.isFinite(threshold)) {
    throw new InvalidOptionError(`threshold must be a finite number, got ${threshold}`);
  }
  return threshold;
}

/**
 * Counts one image (or a flattened batch) into `counts`, validating lengths and values.
 * Shared by the accumulator and the per-image scores.
 */
function countInto(
  counts: ConfusionCounts,
  prob: ArrayLike<number>,
  gt: ArrayLike<number>,
  threshold: number,
  label: string,
): void {
  if (prob.length !== gt.length) {
    throw new ShapeMismatchError(
      `${label}: prediction has ${prob.length} values but ground truth has ${gt.length}`,
    );
  }
  let tp = 0, tn = 0, fp = 0, fn = 0;
  for (let i = 0; i < prob.length; i++) {
    const p = prob[i];
    const g = gt[i];
    const predicted = p >= threshold;
    const truth = g >= threshold;
    if (predicted) {
      if (truth) tp++;
      else if (g === g) fp++;
      else throw nanError(label, "ground truth", i);
    } else if (p !== p) {
      throw nanError(label, "prediction", i);
    } else if (truth) fn++;
    else if (g === g) tn++;
    else throw nanError(label, "ground truth", i);
  }
  counts.tp += tp;
  counts.tn += tn;
  counts.fp += fp;
  counts.fn += fn;
}

function nanError(label: string, which: string, index: number): InvalidValueError {
  return new InvalidValueError(`${label}: ${which} is NaN at flat index ${index}`);
}

/**
 * A streaming binary confusion matrix: `update()` with each image's probabilities and
 * ground truth, then `metrics()` gives the pooled official ISIC metrics. Counts are exact
 * (plain numbers, exact up to 2^53 pixels).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BinaryConfusion } from "@vmunet/metrics";
 * const acc = new BinaryConfusion();
 * acc.update(new Float32Array([0.9, 0.2, 0.7, 0.1]), new Float32Array([1, 0, 0, 0]));
 * acc.update(new Float32Array([0.4, 0.6]), new Float32Array([1, 1]));
 * const m = acc.metrics();
 * assert.deepEqual([m.tp, m.fp, m.fn, m.tn], [2, 1, 1, 2]);
 * assert.ok(Math.abs(m.dsc - 2 / 3) < 1e-12);
 * ```
 */
export class BinaryConfusion {
  /** The foreground threshold applied to predictions and truth. */
  readonly threshold: number;
  #counts: ConfusionCounts = { tp: 0, tn: 0, fp: 0, fn: 0 };
  #images = 0;

  /** Creates an empty accumulator (threshold 0.5 unless given). */
  constructor(options: BinaryOptions = {}) {
    this.threshold = checkThreshold(options.threshold ?? 0.5);
  }

  /**
   * Adds one image or batch (flattened; both arrays in the same order).
   *
   * @param prob Predicted probabilities.
   * @param gt Ground truth (foreground where `>= threshold`).
   * @param label Names the input in error messages (default `image <n>`).
   * @returns This accumulator.
   * @throws {ShapeMismatchError} when the lengths differ.
   * @throws {InvalidValueError} when a value is NaN (nothing is counted then).
   */
  update(prob: ArrayLike<number>, gt: ArrayLike<number>, label?: string): this {
    const name = label ?? `image ${this.#images}`;
    const local: ConfusionCounts = { tp: 0, tn: 0, fp: 0, fn: 0 };
    countInto(local, prob, gt, this.threshold, name);
    const c = this.#counts;
    const next = {
      tp: c.tp + local.tp,
      tn: c.tn + local.tn,
      fp: c.fp + local.fp,
      fn: c.fn + local.fn,
    };
    if (!Number.isSafeInteger(next.tp + next.tn + next.fp + next.fn)) {
      throw new MetricsError(`${name}: pixel count exceeds 2^53, counts would lose exactness`);
    }
    this.#counts = next;
    this.#images++;
    return this;
  }

  /** The counts so far (a copy). */
  get counts(): ConfusionCounts {
    return { ...this.#counts };
  }

  /** How many `update()` calls were counted. */
  get images(): number {
    return this.#images;
  }

  /** The pooled official metrics over everything added so far. */
  metrics(): BinaryMetrics {
    return binaryMetricsFromCounts(this.#counts);
  }

  /** Forgets everything added. */
  reset(): void {
    this.#counts = { tp: 0, tn: 0, fp: 0, fn: 0 };
    this.#images = 0;
  }
}

/** Options of the per-image scores. */
export interface ImageScoreOptions extends BinaryOptions {
  /**
   * The score when prediction and truth are both empty (denominator 0). Default 1, as
   * medpy's `dc`/`jc` (both empty is perfect agreement); the pooled metrics use 0 instead.
   */
  emptyScore?: number;
}

/** Dice and IoU of one image. */
export interface ImageScores extends ConfusionCounts {
  /** `2TP/(2TP+FP+FN)`. */
  dice: number;
  /** `TP/(TP+FP+FN)`. */
  iou: number;
}

/**
 * Dice and IoU of a single image at the threshold, for per-image reports.
 *
 * @param prob Predicted probabilities.
 * @param gt Ground truth.
 * @param options Threshold and the score of an empty/empty image.
 * @returns The image's counts, Dice and IoU.
 * @throws {ShapeMismatchError} when the lengths differ.
 * @throws {InvalidValueError} when a value is NaN.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { imageDiceIou } from "@vmunet/metrics";
 * const s = imageDiceIou([0.9, 0.8, 0.1, 0.3], [1, 0, 1, 0]);
 * assert.equal(s.dice, 0.5);
 * assert.ok(Math.abs(s.iou - 1 / 3) < 1e-12);
 * ```
 */
export function imageDiceIou(
  prob: ArrayLike<number>,
  gt: ArrayLike<number>,
  options: ImageScoreOptions = {},
): ImageScores {
  const threshold = checkThreshold(options.threshold ?? 0.5);
  const empty = options.emptyScore ?? 1;
  const counts: ConfusionCounts = { tp: 0, tn: 0, fp: 0, fn: 0 };
  countInto(counts, prob, gt, threshold, "image");
  const { tp, fp, fn } = counts;
  const union = tp + fp + fn;
  return {
    ...counts,
    dice: union === 0 ? empty : (2 * tp) / (2 * tp + fp + fn),
    iou: union === 0 ? empty : tp / union,
  };
}
