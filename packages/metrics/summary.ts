/**
 * Summaries over test cases as the official Synapse evaluation reports them: per-organ means
 * over cases (sum of the per-case arrays divided by the number of cases), and the mean over
 * organs of those, as a markdown table and as JSON.
 *
 * @module
 */

import { InvalidOptionError, MetricsError } from "./errors.ts";
import type { ClassMetrics } from "./per_class.ts";

/** The Synapse organs, classes 1..8 (TransUNet's preprocessed BTCV labels). */
export const SYNAPSE_CLASS_NAMES: readonly string[] = Object.freeze([
  "aorta",
  "gallbladder",
  "left kidney",
  "right kidney",
  "liver",
  "pancreas",
  "spleen",
  "stomach",
]);

/** The metrics a summary averages. */
export type SummaryMetric = "dice" | "hd95" | "hausdorff" | "asd" | "assd";

const METRICS: readonly SummaryMetric[] = ["dice", "hd95", "hausdorff", "asd", "assd"];

/** Means of one class (organ) over the cases. */
export interface OrganSummary {
  /** Class id. */
  label: number;
  /** Organ name. */
  name: string;
  /** Mean Dice over cases. */
  dice: number;
  /** Mean HD95 over cases. */
  hd95: number;
  /** Mean Hausdorff distance over cases. */
  hausdorff: number;
  /** Mean ASD over cases. */
  asd: number;
  /** Mean ASSD over cases. */
  assd: number;
}

/** A whole evaluation: per-organ means, their mean, and every case. */
export interface EvaluationSummary {
  /** Number of cases averaged. */
  cases: number;
  /** Per-organ means over cases, in class order. */
  organs: OrganSummary[];
  /** The mean over organs of each per-organ mean (the paper's DSC and HD95). */
  mean: Record<SummaryMetric, number>;
  /** Every case's per-class metrics, in the order added. */
  perCase: { name: string; classes: ClassMetrics[] }[];
}

/**
 * Sum as numpy's `add.reduce` does for a contiguous float64 array (pairwise summation with
 * eight accumulators), so that means over organs match `np.mean` to the last bit.
 */
function numpySum(values: readonly number[], start = 0, n = values.length): number {
  if (n < 8) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[start + i];
    return s;
  }
  if (n <= 128) {
    const r = values.slice(start, start + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += values[start + i + j];
    }
    let s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) s += values[start + i];
    return s;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return numpySum(values, start, half) + numpySum(values, start + half, n - half);
}

/** Options of a summary. */
export interface SummaryOptions {
  /**
   * Names of classes 1..classes-1. Default: {@linkcode SYNAPSE_CLASS_NAMES} when there are
   * 8 foreground classes, else `class 1`, `class 2`, ….
   */
  classNames?: readonly string[];
}

/**
 * Collects per-case per-class metrics and summarises them as the official Synapse test:
 * per-organ mean over cases, then the mean over organs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EvaluationSummaryBuilder, perClassMetrics } from "@vmunet/metrics";
 * const gt = { data: [1, 1, 2, 2], shape: [2, 2] };
 * const summary = new EvaluationSummaryBuilder({ classNames: ["spleen", "liver"] })
 *   .addCase("case0001", perClassMetrics({ data: [1, 1, 2, 0], shape: [2, 2] }, gt, { classes: 3 }))
 *   .addCase("case0002", perClassMetrics(gt, gt, { classes: 3 }));
 * assert.equal(summary.summary().organs[1].dice.toFixed(4), "0.8333");
 * assert.equal(summary.toMarkdown().split("\n")[0], "| Organ | Dice (%) | HD95 | HD | ASD | ASSD |");
 * ```
 */
export class EvaluationSummaryBuilder {
  readonly #names?: readonly string[];
  #classes = -1;
  readonly #cases: { name: string; classes: ClassMetrics[] }[] = [];

  /** Creates an empty summary. */
  constructor(options: SummaryOptions = {}) {
    this.#names = options.classNames;
  }

  /**
   * Adds one case's per-class metrics (as {@linkcode perClassMetrics} returns them).
   *
   * @param name The case's name (e.g. `case0001`).
   * @param classes Metrics of classes 1..classes-1, in order.
   * @returns This builder.
   * @throws {MetricsError} when the class list differs from the earlier cases'.
   */
  addCase(name: string, classes: readonly ClassMetrics[]): this {
    if (classes.length === 0) throw new MetricsError(`case "${name}" has no classes`);
    classes.forEach((c, i) => {
      if (c.label !== i + 1) {
        throw new MetricsError(
          `case "${name}": entry ${i} has label ${c.label}; expected classes 1..${classes.length} in order`,
        );
      }
    });
    if (this.#classes < 0) {
      if (this.#names && this.#names.length !== classes.length) {
        throw new InvalidOptionError(
          `classNames has ${this.#names.length} names but case "${name}" has ${classes.length} foreground classes`,
        );
      }
      this.#classes = classes.length;
    } else if (classes.length !== this.#classes) {
      throw new MetricsError(
        `case "${name}" has ${classes.length} foreground classes; earlier cases have ${this.#classes}`,
      );
    }
    this.#cases.push({ name, classes: classes.map((c) => ({ ...c })) });
    return this;
  }

  /** The names of classes 1..n. */
  get classNames(): readonly string[] {
    if (this.#names) return this.#names;
    if (this.#classes === SYNAPSE_CLASS_NAMES.length) return SYNAPSE_CLASS_NAMES;
    return Array.from({ length: Math.max(this.#classes, 0) }, (_, i) => `class ${i + 1}`);
  }

  /**
   * The per-organ means over cases and their mean over organs.
   *
   * @returns The summary (a plain object, JSON-serialisable).
   * @throws {MetricsError} when no case was added.
   */
  summary(): EvaluationSummary {
    if (this.#cases.length === 0) throw new MetricsError("summary of zero cases");
    const n = this.#cases.length;
    const names = this.classNames;
    const organs: OrganSummary[] = [];
    for (let c = 0; c < this.#classes; c++) {
      const organ: OrganSummary = {
        label: c + 1,
        name: names[c],
        dice: 0,
        hd95: 0,
        hausdorff: 0,
        asd: 0,
        assd: 0,
      };
      // As the official loop: running sum of per-case arrays, then divided by the count.
      for (const metric of METRICS) {
        let sum = 0;
        for (const kase of this.#cases) sum += kase.classes[c][metric];
        organ[metric] = sum / n;
      }
      organs.push(organ);
    }
    const mean = {} as Record<SummaryMetric, number>;
    for (const metric of METRICS) {
      mean[metric] = numpySum(organs.map((o) => o[metric])) / organs.length;
    }
    return { cases: n, organs, mean, perCase: this.#cases.map((k) => ({ ...k })) };
  }

  /**
   * The summary as markdown: a per-organ table (Dice in %, distances in spacing units) with
   * a mean row, then one row in the paper's layout (DSC, HD95, then each organ's Dice).
   *
   * @param digits Decimals (default 2).
   * @returns Markdown text.
   */
  toMarkdown(digits = 2): string {
    const s = this.summary();
    const f = (x: number) => x.toFixed(digits);
    const lines = [
      "| Organ | Dice (%) | HD95 | HD | ASD | ASSD |",
      "|---|---:|---:|---:|---:|---:|",
      ...s.organs.map((o) =>
        `| ${o.name} | ${f(o.dice * 100)} | ${f(o.hd95)} | ${f(o.hausdorff)} | ${f(o.asd)} | ${
          f(o.assd)
        } |`
      ),
      `| **mean** | **${f(s.mean.dice * 100)}** | **${f(s.mean.hd95)}** | ${
        f(s.mean.hausdorff)
      } | ${f(s.mean.asd)} | ${f(s.mean.assd)} |`,
      "",
      `| DSC | HD95 | ${s.organs.map((o) => o.name).join(" | ")} |`,
      `|${"---:|".repeat(s.organs.length + 2)}`,
      `| ${f(s.mean.dice * 100)} | ${f(s.mean.hd95)} | ${
        s.organs.map((o) => f(o.dice * 100)).join(" | ")
      } |`,
      "",
      `${s.cases} case${s.cases === 1 ? "" : "s"}.`,
    ];
    return lines.join("\n");
  }

  /** The summary as a JSON-serialisable object ({@linkcode EvaluationSummaryBuilder.summary}). */
  toJSON(): EvaluationSummary {
    return this.summary();
  }
}
