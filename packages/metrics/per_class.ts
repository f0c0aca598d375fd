/**
 * Per-class, per-volume Dice and HD95 exactly as the official Synapse evaluation
 * (`utils.py: calculate_metric_percase`, shared with TransUNet and Swin-UNet) computes them
 * with medpy, plus Hausdorff and average surface distances from the same distances.
 *
 * Empty-case rules: prediction and truth non-empty → computed; prediction non-empty and
 * truth empty → Dice 1, distances 0; otherwise (prediction empty) → Dice 0, distances 0.
 *
 * @module
 */

import { cropMask, labelStats, maskBox, unionBox } from "./_box.ts";
import { metricsFromDistances, pairInBox } from "./_surface.ts";
import { InvalidOptionError, InvalidValueError } from "./errors.ts";
import type { SurfaceOptions } from "./surface.ts";
import { type Grid, resolveGrid, type Volume } from "./volume.ts";

/** Which empty-case rule gave a class its numbers. */
export type EmptyCase = "computed" | "truth-empty" | "prediction-empty" | "both-empty";

/** The metrics of one class (or one binary object pair) in one volume. */
export interface CaseMetrics {
  /** medpy `dc`, or the empty-case value. */
  dice: number;
  /** medpy `hd95`, or the empty-case value (0). */
  hd95: number;
  /** medpy `hd` (largest surface distance), or 0 by the same rules. */
  hausdorff: number;
  /** medpy `asd` (prediction surface → truth surface), or 0 by the same rules. */
  asd: number;
  /** Average symmetric surface distance (pooled mean), or 0 by the same rules. */
  assd: number;
  /** Foreground voxels in the prediction. */
  predVoxels: number;
  /** Foreground voxels in the truth. */
  gtVoxels: number;
  /** Which rule applied. */
  emptyCase: EmptyCase;
}

/** {@linkcode CaseMetrics} of one class of a label volume. */
export interface ClassMetrics extends CaseMetrics {
  /** The class id (1..classes-1). */
  label: number;
}

/** Options of the per-class evaluation. */
export interface PerClassOptions extends SurfaceOptions {
  /** Number of classes including background 0; labels must be integers in `0..classes-1`. */
  classes: number;
  /**
   * What to do with integer labels outside `0..classes-1`: `"error"` (default) raises
   * `InvalidLabelError`; `"ignore"` leaves them out of every class, as the official
   * loop over classes 1..classes-1 does. Non-integer labels always raise.
   */
  outOfRangeLabels?: "error" | "ignore";
}

function emptyCaseMetrics(predVoxels: number, gtVoxels: number): CaseMetrics {
  const predOnly = predVoxels > 0;
  return {
    dice: predOnly ? 1 : 0,
    hd95: 0,
    hausdorff: 0,
    asd: 0,
    assd: 0,
    predVoxels,
    gtVoxels,
    emptyCase: predOnly ? "truth-empty" : gtVoxels > 0 ? "prediction-empty" : "both-empty",
  };
}

function computed(
  pred: ArrayLike<number>,
  gt: ArrayLike<number>,
  grid: Grid,
  box: NonNullable<ReturnType<typeof unionBox>>,
  label: number | undefined,
  counts: { predVoxels: number; gtVoxels: number; intersection: number },
): CaseMetrics {
  const dims: [number, number, number] = [box.z1 - box.z0, box.y1 - box.y0, box.x1 - box.x0];
  const { ab, ba } = pairInBox(
    cropMask(pred, grid, box, label),
    cropMask(gt, grid, box, label),
    dims,
    [grid.sz, grid.sy, grid.sx],
    grid.rank,
  );
  const m = metricsFromDistances(ab, ba);
  return {
    dice: (2 * counts.intersection) / (counts.predVoxels + counts.gtVoxels),
    hd95: m.hd95,
    hausdorff: m.hausdorff,
    asd: m.asd,
    assd: m.assd,
    predVoxels: counts.predVoxels,
    gtVoxels: counts.gtVoxels,
    emptyCase: "computed",
  };
}

/**
 * Dice, HD95 (and Hausdorff, ASD, ASSD) of every foreground class of a label volume, one
 * pass over the volumes for counts and bounding boxes, then each class inside its box.
 *
 * @param pred Predicted labels, e.g. `(D, H, W)`.
 * @param gt Ground-truth labels of the same shape.
 * @param options Class count and voxel spacing (default: voxel units, as the official code).
 * @returns One entry per class 1..classes-1, in order.
 * @throws {ShapeMismatchError} when the shapes differ.
 * @throws {InvalidLabelError} for a label that is not an integer in `0..classes-1` (see
 *   {@linkcode PerClassOptions.outOfRangeLabels}).
 * @throws {InvalidOptionError} for a bad class count or spacing.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { perClassMetrics } from "@vmunet/metrics";
 * const pred = { data: [1, 1, 0, 2, 2, 0], shape: [1, 2, 3] };
 * const gt = { data: [1, 0, 0, 2, 2, 2], shape: [1, 2, 3] };
 * const [c1, c2] = perClassMetrics(pred, gt, { classes: 3 });
 * assert.ok(Math.abs(c1.dice - 2 / 3) < 1e-12);
 * assert.ok(Math.abs(c1.hd95 - 0.9) < 1e-12);
 * assert.ok(Math.abs(c2.dice - 0.8) < 1e-12);
 * ```
 */
export function perClassMetrics(
  pred: Volume,
  gt: Volume,
  options: PerClassOptions,
): ClassMetrics[] {
  const classes = options.classes;
  if (!Number.isInteger(classes) || classes < 2) {
    throw new InvalidOptionError(
      `classes must be an integer >= 2 (background included), got ${classes}`,
    );
  }
  const grid = resolveGrid(pred, gt, options.spacing, ["prediction", "ground truth"]);
  const stats = labelStats(
    pred.data,
    gt.data,
    grid,
    classes,
    ["prediction", "ground truth"],
    options.outOfRangeLabels === "ignore",
  );
  const out: ClassMetrics[] = [];
  for (let c = 1; c < classes; c++) {
    const predVoxels = stats.predCount[c];
    const gtVoxels = stats.gtCount[c];
    const metrics = predVoxels > 0 && gtVoxels > 0
      ? computed(pred.data, gt.data, grid, unionBox(stats.predBox[c], stats.gtBox[c])!, c, {
        predVoxels,
        gtVoxels,
        intersection: stats.intersection[c],
      })
      : emptyCaseMetrics(predVoxels, gtVoxels);
    out.push({ label: c, ...metrics });
  }
  return out;
}

/**
 * The official `calculate_metric_percase` on one binary pair (foreground where non-zero):
 * Dice and HD95 with the empty-case rules, plus Hausdorff, ASD and ASSD.
 *
 * @param pred Predicted mask.
 * @param gt Ground-truth mask of the same shape.
 * @param options Voxel spacing (default: voxel units).
 * @returns The case's metrics.
 * @throws {ShapeMismatchError} when the shapes differ.
 * @throws {InvalidValueError} for a NaN value.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { binaryCaseMetrics } from "@vmunet/metrics";
 * const m = binaryCaseMetrics({ data: [1, 0], shape: [2] }, { data: [0, 0], shape: [2] });
 * assert.deepEqual([m.dice, m.hd95, m.emptyCase], [1, 0, "truth-empty"]);
 * ```
 */
export function binaryCaseMetrics(
  pred: Volume,
  gt: Volume,
  options: SurfaceOptions = {},
): CaseMetrics {
  const grid = resolveGrid(pred, gt, options.spacing, ["prediction", "ground truth"]);
  const a = maskBox(pred.data, grid, "prediction");
  const b = maskBox(gt.data, grid, "ground truth");
  if (!a.box || !b.box) return emptyCaseMetrics(a.count, b.count);
  let intersection = 0;
  for (let i = 0; i < pred.data.length; i++) {
    if (pred.data[i] !== 0 && gt.data[i] !== 0) intersection++;
  }
  return computed(pred.data, gt.data, grid, unionBox(a.box, b.box)!, undefined, {
    predVoxels: a.count,
    gtVoxels: b.count,
    intersection,
  });
}

/**
 * medpy's `dc`: `2|A∩B| / (|A|+|B|)` of two binary masks (foreground where non-zero); 1
 * when both are empty, as medpy.
 *
 * @param result First mask.
 * @param reference Second mask of the same shape.
 * @returns The Dice coefficient.
 * @throws {ShapeMismatchError} when the lengths differ.
 * @throws {InvalidValueError} for a NaN value.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { diceCoefficient } from "@vmunet/metrics";
 * assert.equal(diceCoefficient([1, 1, 0, 0], [0, 1, 1, 0]), 0.5);
 * ```
 */
export function diceCoefficient(result: ArrayLike<number>, reference: ArrayLike<number>): number {
  resolveGrid({ data: result, shape: [result.length] }, {
    data: reference,
    shape: [reference.length],
  }, undefined);
  let a = 0, b = 0, both = 0;
  for (let i = 0; i < result.length; i++) {
    const r = result[i];
    const f = reference[i];
    if (r !== r || f !== f) {
      throw new InvalidValueError(`${r !== r ? "result" : "reference"} is NaN at flat index ${i}`);
    }
    const x = r !== 0;
    const y = f !== 0;
    if (x) a++;
    if (y) b++;
    if (x && y) both++;
  }
  return a + b === 0 ? 1 : (2 * both) / (a + b);
}
