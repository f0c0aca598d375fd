/**
 * Evaluation with the paper's metrics: binary datasets (ISIC, synthetic, binary folders:
 * pooled confusion → mIoU, DSC, Acc, Sen, Spe, plus the validation loss), label folders
 * (per-image per-class Dice/HD95) and Synapse test volumes (per-case per-organ Dice and
 * HD95, slices zoomed to the input size and the prediction zoomed back, docs/spec.md §10).
 *
 * @module
 */

import { type Batch, encodeOverlayPng } from "@vmunet/datasets";
import {
  BinaryConfusion,
  type BinaryMetrics,
  type EvaluationSummary,
  EvaluationSummaryBuilder,
  imageDiceIou,
  perClassMetrics,
} from "@vmunet/metrics";
import type { VMUNet } from "../model.ts";
import { argmaxClasses, inferBatch } from "./infer.ts";

/** A validation example: PNG bytes of the image, the truth overlay and the prediction overlay. */
export interface EvaluationExample {
  /** Sample name. */
  name: string;
  /** PNG of the input image. */
  image: Uint8Array;
  /** PNG of the ground-truth overlay. */
  truth: Uint8Array;
  /** PNG of the prediction overlay. */
  prediction: Uint8Array;
  /** Per-image Dice, shown under the prediction. */
  dice?: number;
}

/** Called after each batch or case: done and total (cases or images). */
export type EvalProgress = (done: number, total: number) => void;

/** The official ISIC table row plus the validation loss. */
export interface BinaryEvaluation {
  /** `binary`. */
  kind: "binary";
  /** Images evaluated. */
  images: number;
  /** Mean of the per-batch losses weighted by batch size (the official per-image mean). */
  loss: number;
  /** Pooled confusion metrics (docs/spec.md §10). */
  metrics: BinaryMetrics;
  /** Report examples (the first images). */
  examples: EvaluationExample[];
}

/** Per-class Dice/HD95 means over cases (Synapse volumes, or label images as cases). */
export interface MultiClassEvaluation {
  /** `multiclass`. */
  kind: "multiclass";
  /** Cases evaluated (volumes or images). */
  cases: number;
  /** Mean loss over images (label folders only; NaN for volumes). */
  loss: number;
  /** The summary (per-organ means, their mean, every case). */
  summary: EvaluationSummary;
  /** Markdown of the summary. */
  markdown: string;
  /** Report examples. */
  examples: EvaluationExample[];
}

/** Either evaluation. */
export type Evaluation = BinaryEvaluation | MultiClassEvaluation;

function toDisplay(image: Float32Array): Float32Array {
  let max = 0;
  for (const v of image) if (v > max) max = v;
  // CT slices are in [0, 1]; RGB inputs in [0, 255].
  if (max > 1.5) return image;
  const out = new Float32Array(image.length);
  for (let i = 0; i < image.length; i++) out[i] = image[i] * 255;
  return out;
}

/**
 * Makes one report example: the image, the truth overlay and the prediction overlay.
 *
 * @param name Sample name.
 * @param image `(C,H,W)` image.
 * @param channels C.
 * @param truth Truth mask or labels `(H,W)`.
 * @param prediction Predicted probabilities or labels `(H,W)`.
 * @param height H.
 * @param width W.
 * @param dice Per-image Dice to show.
 * @returns The example.
 */
export function makeExample(
  name: string,
  image: Float32Array,
  channels: number,
  truth: Float32Array | Int32Array,
  prediction: Float32Array | Int32Array,
  height: number,
  width: number,
  dice?: number,
): EvaluationExample {
  const display = toDisplay(image);
  const empty = new Float32Array(height * width);
  return {
    name,
    image: encodeOverlayPng(display, channels, empty, height, width),
    truth: encodeOverlayPng(display, channels, truth, height, width),
    prediction: encodeOverlayPng(display, channels, prediction, height, width),
    dice,
  };
}

/** Options of {@linkcode evaluateBatches}. */
export interface EvaluateBatchesOptions {
  /** Number of classes of the model (1 = binary). */
  numClasses: number;
  /** Number of images (for progress). */
  total: number;
  /** Loss weights. */
  lossWeights: readonly [number, number];
  /** Binary threshold (default 0.5). */
  threshold?: number;
  /** Report examples to keep (default 8). */
  examples?: number;
  /** Progress callback. */
  onProgress?: EvalProgress;
}

/**
 * Evaluates the model on batches of images with targets (binary masks or labels).
 *
 * @param model The model.
 * @param batches The batches (e.g. an unshuffled loader epoch).
 * @param options Classes, totals, weights, threshold, examples, progress.
 * @returns The evaluation.
 */
export async function evaluateBatches(
  model: VMUNet,
  batches: AsyncIterable<Batch>,
  options: EvaluateBatchesOptions,
): Promise<Evaluation> {
  const keep = options.examples ?? 8;
  const examples: EvaluationExample[] = [];
  const confusion = new BinaryConfusion({ threshold: options.threshold ?? 0.5 });
  const summary = new EvaluationSummaryBuilder();
  let lossSum = 0, images = 0;
  for await (const batch of batches) {
    const { size: b, channels: c, height: h, width: w } = batch;
    const plane = h * w;
    const { output, loss } = await inferBatch(
      model,
      batch.images,
      [b, c, h, w],
      batch.masks,
      options.lossWeights,
    );
    lossSum += loss * b;
    if (options.numClasses === 1) {
      confusion.update(output, batch.masks as Float32Array, batch.names.join(","));
    }
    for (let i = 0; i < b; i++) {
      const truth = batch.masks.subarray(i * plane, (i + 1) * plane);
      let pred: Float32Array | Int32Array;
      let dice: number;
      if (options.numClasses === 1) {
        pred = output.subarray(i * plane, (i + 1) * plane);
        dice = imageDiceIou(pred, truth as Float32Array, { threshold: options.threshold }).dice;
      } else {
        pred = argmaxClasses(
          output.subarray(i * options.numClasses * plane, (i + 1) * options.numClasses * plane),
          1,
          options.numClasses,
          plane,
        );
        const classes = perClassMetrics(
          { data: pred, shape: [h, w] },
          { data: truth, shape: [h, w] },
          { classes: options.numClasses },
        );
        summary.addCase(batch.names[i], classes);
        dice = classes.reduce((s, x) => s + x.dice, 0) / classes.length;
      }
      if (examples.length < keep) {
        examples.push(
          makeExample(
            batch.names[i],
            batch.images.subarray(i * c * plane, (i + 1) * c * plane),
            c,
            truth,
            pred,
            h,
            w,
            dice,
          ),
        );
      }
    }
    images += b;
    options.onProgress?.(images, options.total);
  }
  const loss = images > 0 ? lossSum / images : NaN;
  if (options.numClasses === 1) {
    return { kind: "binary", images, loss, metrics: confusion.metrics(), examples };
  }
  return {
    kind: "multiclass",
    cases: images,
    loss,
    summary: summary.summary(),
    markdown: summary.toMarkdown(),
    examples,
  };
}

/** The official binary table as markdown (values in %). */
export function binaryMarkdown(m: BinaryMetrics, title = "Result"): string {
  const pct = (v: number) => (100 * v).toFixed(2);
  return [
    `| ${title} | mIoU | DSC | Acc | Spe | Sen |`,
    "|---|---|---|---|---|---|",
    `| VM-UNet | ${pct(m.miou)} | ${pct(m.dsc)} | ${pct(m.accuracy)} | ${pct(m.specificity)} | ${
      pct(m.sensitivity)
    } |`,
  ].join("\n");
}

/** The one-line validation summary printed after each evaluation. */
export function evaluationLine(e: Evaluation): string {
  const pct = (v: number) => (100 * v).toFixed(2);
  if (e.kind === "binary") {
    const m = e.metrics;
    return `val loss ${e.loss.toFixed(4)}  mIoU ${pct(m.miou)}  DSC ${pct(m.dsc)}  Acc ${
      pct(m.accuracy)
    }  Sen ${pct(m.sensitivity)}  Spe ${pct(m.specificity)}`;
  }
  const s = e.summary;
  const organs = s.organs.map((o) => `${o.name} ${pct(o.dice)}`).join("  ");
  const loss = Number.isNaN(e.loss) ? "" : `val loss ${e.loss.toFixed(4)}  `;
  return `${loss}mean DSC ${pct(s.mean.dice)}  mean HD95 ${s.mean.hd95.toFixed(2)}  (${organs})`;
}

/** The JSON record of an evaluation (without images). */
export function evaluationRecord(e: Evaluation): Record<string, unknown> {
  if (e.kind === "binary") {
    const m = e.metrics;
    return {
      images: e.images,
      valLoss: e.loss,
      miou: m.miou,
      dsc: m.dsc,
      accuracy: m.accuracy,
      sensitivity: m.sensitivity,
      specificity: m.specificity,
      tp: m.tp,
      tn: m.tn,
      fp: m.fp,
      fn: m.fn,
    };
  }
  const s = e.summary;
  return {
    cases: e.cases,
    valLoss: Number.isNaN(e.loss) ? null : e.loss,
    dsc: s.mean.dice,
    hd95: s.mean.hd95,
    organs: s.organs.map((o) => ({ label: o.label, name: o.name, dsc: o.dice, hd95: o.hd95 })),
  };
}

/** The Dice of an evaluation (pooled DSC for binary, mean organ Dice otherwise). */
export function evaluationDice(e: Evaluation): number {
  return e.kind === "binary" ? e.metrics.dsc : e.summary.mean.dice;
}
