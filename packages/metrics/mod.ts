/**
 * `@vmunet/metrics`: the VM-UNet paper's evaluation metrics, computed exactly as the
 * official code computes them, and fast on full CT volumes. No GPU code.
 *
 * - ISIC (binary): {@linkcode BinaryConfusion}, a streaming confusion matrix pooled over all
 *   pixels of all images (`pred >= 0.5`, `gt >= 0.5`), giving the official `miou`
 *   (foreground IoU), `dsc`, `accuracy`, `sensitivity` and `specificity`;
 *   {@linkcode imageDiceIou} for per-image reports.
 * - Synapse (per class, per volume): {@linkcode perClassMetrics}, medpy's `dc` and `hd95`
 *   with the official empty-case rules, plus Hausdorff, ASD and ASSD; the surface metrics of
 *   two binary masks ({@linkcode hd95}, {@linkcode surfaceDistanceMetrics}, …) use an exact
 *   linear-time Euclidean distance transform with voxel spacing, inside the objects'
 *   bounding box only.
 * - {@linkcode EvaluationSummaryBuilder}: per-organ means over cases, markdown and JSON.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BinaryConfusion, EvaluationSummaryBuilder, perClassMetrics } from "@vmunet/metrics";
 *
 * const isic = new BinaryConfusion();
 * isic.update(new Float32Array([0.9, 0.4, 0.6, 0.1]), new Float32Array([1, 1, 0, 0]));
 * assert.equal(isic.metrics().dsc, 0.5);
 *
 * // A (D, H, W) label volume with classes 0..2.
 * const shape = [2, 3, 3];
 * const gt = new Int32Array(18).fill(1, 0, 6).fill(2, 9, 12);
 * const pred = new Int32Array(18).fill(1, 0, 5).fill(2, 9, 13);
 * const classes = perClassMetrics({ data: pred, shape }, { data: gt, shape }, { classes: 3 });
 * assert.deepEqual(classes.map((c) => c.dice.toFixed(3)), ["0.909", "0.857"]);
 * const summary = new EvaluationSummaryBuilder({ classNames: ["liver", "spleen"] });
 * assert.equal(summary.addCase("case0001", classes).summary().mean.dice.toFixed(3), "0.883");
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export type { Spacing, Volume } from "./volume.ts";
export * from "./confusion.ts";
export * from "./percentile.ts";
export * from "./surface.ts";
export * from "./per_class.ts";
export * from "./summary.ts";
