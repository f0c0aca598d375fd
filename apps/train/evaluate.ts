/**
 * Evaluation with the paper's metrics: binary datasets (ISIC, synthetic, binary folders:
 * pooled confusion → mIoU, DSC, Acc, Sen, Spe, plus the validation loss), label folders
 * (per-image per-class Dice/HD95) and Synapse test volumes (per-case per-organ Dice and
 * HD95, slices zoomed to the input size and the prediction zoomed back, docs/spec.md §10).
 *
 * @module
 */

import { bceDiceLoss, ceDiceLoss, type Tensor } from "@vmunet/tensor";
import { type Batch, encodeOverlayPng } from "@vmunet/datasets";
import { type SynapseVolumes, volumeSlices, zoomLabelsBack } from "@vmunet/datasets/fs";
import {
  BinaryConfusion,
  type BinaryMetrics,
  type EvaluationSummary,
  EvaluationSummaryBuilder,
  imageDiceIou,
  perClassMetrics,
} from "@vmunet/metrics";
import type { VMUNet } from "@vmunet/vmunet";
import type { ReportExample } from "./report.ts";

/** Called after each batch or case: done and total (cases or images). */
export type EvalProgress = (done: number, total: number) => void;

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
  const values = (await output.read()) as Float32Array;
  output.dispose();
  let lossValue = NaN;
  if (loss) {
    lossValue = ((await loss.read()) as Float32Array)[0];
    loss.dispose();
  }
  return { output: values, loss: lossValue };
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
  examples: ReportExample[];
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
  examples: ReportExample[];
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
): ReportExample {
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
  const examples: ReportExample[] = [];
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

/** Options of {@linkcode evaluateVolumes}. */
export interface EvaluateVolumesOptions {
  /** Network input side (224). */
  size: number;
  /** Slices per forward pass. */
  batchSize: number;
  /** Classes (9). */
  numClasses: number;
  /** Report examples to keep (default 8). */
  examples?: number;
  /** Progress callback over volumes. */
  onProgress?: EvalProgress;
  /** Evaluate only the first N volumes. */
  limit?: number;
}

/**
 * The official Synapse test (`test_single_volume`): every slice zoomed to `size` (order 3),
 * argmax of the model's logits, zoomed back (order 0); per-case per-organ Dice and HD95 on
 * the 3-D volume; means over cases, then over organs.
 *
 * @param model The model (1 input channel, `numClasses` outputs).
 * @param volumes The test volumes.
 * @param options Size, batch, classes, examples, progress.
 * @returns The evaluation.
 */
export async function evaluateVolumes(
  model: VMUNet,
  volumes: SynapseVolumes,
  options: EvaluateVolumesOptions,
): Promise<MultiClassEvaluation> {
  const summary = new EvaluationSummaryBuilder();
  const keep = options.examples ?? 8;
  const examples: ReportExample[] = [];
  const count = Math.min(volumes.length, options.limit ?? Infinity);
  const { size, numClasses: nc } = options;
  const channels = model.config.inChannels;
  for (let v = 0; v < count; v++) {
    const volume = await volumes.read(v);
    const { depth, height, width } = volume;
    const pred = new Int32Array(depth * height * width);
    const slices = [...volumeSlices(volume, size)];
    let bestSlice: { fg: number; index: number; image: Float32Array; pred: Int32Array } = {
      fg: -1,
      index: 0,
      image: new Float32Array(0),
      pred: new Int32Array(0),
    };
    for (let s = 0; s < slices.length; s += options.batchSize) {
      const group = slices.slice(s, s + options.batchSize);
      const plane = size * size;
      const images = new Float32Array(group.length * channels * plane);
      group.forEach((sl, i) => {
        for (let c = 0; c < channels; c++) images.set(sl.image, (i * channels + c) * plane);
      });
      const { output } = await inferBatch(model, images, [group.length, channels, size, size]);
      const labels = argmaxClasses(output, group.length, nc, plane);
      group.forEach((sl, i) => {
        const small = labels.subarray(i * plane, (i + 1) * plane);
        pred.set(zoomLabelsBack(small, size, height, width), sl.index * height * width);
        let fg = 0;
        for (const l of sl.label) if (l > 0) fg++;
        if (fg > bestSlice.fg) {
          bestSlice = { fg, index: sl.index, image: sl.image, pred: small.slice() };
        }
      });
    }
    const classes = perClassMetrics(
      { data: pred, shape: [depth, height, width] },
      { data: volume.label, shape: [depth, height, width] },
      { classes: nc, outOfRangeLabels: "ignore" },
    );
    summary.addCase(volume.name, classes);
    if (examples.length < keep && bestSlice.fg >= 0) {
      const truth = volume.label.subarray(
        bestSlice.index * height * width,
        (bestSlice.index + 1) * height * width,
      );
      const truthSmall = new Int32Array(size * size);
      // Nearest sampling of the truth at the network resolution for display.
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          truthSmall[y * size + x] = truth[
            Math.min(height - 1, Math.floor(((y + 0.5) * height) / size)) * width +
            Math.min(width - 1, Math.floor(((x + 0.5) * width) / size))
          ];
        }
      }
      examples.push(
        makeExample(
          `${volume.name} slice ${bestSlice.index}`,
          bestSlice.image,
          1,
          truthSmall,
          bestSlice.pred,
          size,
          size,
          classes.reduce((s, x) => s + x.dice, 0) / classes.length,
        ),
      );
    }
    options.onProgress?.(v + 1, count);
  }
  return {
    kind: "multiclass",
    cases: count,
    loss: NaN,
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
