/**
 * The official Synapse test on volumes read from disk (`test_single_volume`): Deno only, so it
 * is exported from `@vmunet/vmunet/fs`, not from the browser-safe `@vmunet/vmunet/training`.
 *
 * @module
 */

import { type SynapseVolumes, volumeSlices, zoomLabelsBack } from "@vmunet/datasets/fs";
import { EvaluationSummaryBuilder, perClassMetrics } from "@vmunet/metrics";
import type { VMUNet } from "../model.ts";
import {
  type EvalProgress,
  type EvaluationExample,
  makeExample,
  type MultiClassEvaluation,
} from "./evaluate.ts";
import { argmaxClasses, inferBatch } from "./infer.ts";

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
  const examples: EvaluationExample[] = [];
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
