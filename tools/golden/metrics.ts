/**
 * The golden runner for `metrics_*.safetensors` (docs/golden.md): dispatches on
 * the `kind` metadata, reads every input and expectation from the file, and checks
 * `@vmunet/metrics` against it.
 *
 * - `binary-pooled`: `prob (N, …)` and `gt (N, …)` are streamed image by image (leading
 *   axis) through `BinaryConfusion` at the file's `threshold`; counts must be exact, the
 *   ratios within 1e-9.
 * - `volume-per-class`: `pred` and `gt` label volumes, `classes`, `spacing` (used only when
 *   `spacing_given` is `True`, or when that flag is absent), `expected_dc` and `expected_hd95` for classes 1..classes-1;
 *   Dice within 1e-9, HD95 within 1e-4. An expectation stored as F32 cannot hold more than
 *   float32 precision, so its bound is at least half a float32 ulp of the stored value.
 *
 * @module
 */

import { BinaryConfusion, perClassMetrics } from "@vmunet/metrics";
import type { SafetensorsFile } from "@vmunet/tensor/safetensors";
import { readSafetensors } from "@vmunet/tensor/fs";
import type { FixtureReport, GoldenRunner } from "./runner.ts";
import { compareExact, type Comparison } from "./tolerance.ts";

/** Raised for a metrics fixture that lacks a key or holds an unusable value. */
export class MetricsFixtureError extends Error {
  /** Creates the error; `file` names the fixture. */
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = "MetricsFixtureError";
  }
}

const RATIO_BOUND = 1e-9;
const DISTANCE_BOUND = 1e-4;
const RATIOS = ["miou", "dsc", "accuracy", "sensitivity", "specificity"] as const;
const COUNTS = ["tp", "tn", "fp", "fn"] as const;

function metaString(file: SafetensorsFile, key: string): string {
  const value = file.metadata[key];
  if (value === undefined) {
    throw new MetricsFixtureError(file.source, `metadata has no "${key}"`);
  }
  return value;
}

function metaNumber(file: SafetensorsFile, key: string): number {
  const text = metaString(file, key);
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    throw new MetricsFixtureError(file.source, `metadata "${key}" = "${text}" is not a number`);
  }
  return value;
}

function metaBoolean(file: SafetensorsFile, key: string): boolean {
  const text = metaString(file, key).toLowerCase();
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  throw new MetricsFixtureError(file.source, `metadata "${key}" = "${text}" is not a boolean`);
}

/** Half a float32 ulp of `v`: the rounding error of storing a float64 value as F32. */
function float32HalfUlp(v: number): number {
  const a = Math.abs(v);
  if (a === 0 || !Number.isFinite(a)) return 0;
  return 2 ** (Math.max(Math.floor(Math.log2(a)), -126) - 24);
}

/** The bound for an expectation tensor: `bound`, widened to its storage precision. */
function storedBound(file: SafetensorsFile, key: string, want: number, bound: number): number {
  return file.get(key).dtype === "F32" ? Math.max(bound, float32HalfUlp(want)) : bound;
}

function checkBinaryPooled(file: SafetensorsFile): Comparison[] {
  const threshold = metaNumber(file, "threshold");
  const prob = file.get("prob");
  const gt = file.get("gt");
  if (prob.shape.join() !== gt.shape.join()) {
    throw new MetricsFixtureError(
      file.source,
      `prob has shape [${prob.shape}] but gt has shape [${gt.shape}]`,
    );
  }
  const p = file.float64("prob");
  const g = file.float64("gt");
  // Stream image by image along the leading axis, as an evaluation loop would.
  const images = prob.shape.length >= 3 ? prob.shape[0] : 1;
  const per = images > 0 ? p.length / images : 0;
  const acc = new BinaryConfusion({ threshold });
  for (let n = 0; n < images; n++) {
    acc.update(
      p.subarray(n * per, (n + 1) * per),
      g.subarray(n * per, (n + 1) * per),
      `image ${n}`,
    );
  }
  const got = acc.metrics();
  return [
    ...COUNTS.map((k) => compareExact(k, got[k], metaNumber(file, k))),
    ...RATIOS.map((k) => compareExact(k, got[k], metaNumber(file, k), RATIO_BOUND)),
  ];
}

function checkVolumePerClass(file: SafetensorsFile): Comparison[] {
  const classes = metaNumber(file, "classes");
  if (!Number.isInteger(classes) || classes < 2) {
    throw new MetricsFixtureError(file.source, `metadata "classes" = ${classes} is not >= 2`);
  }
  const pred = file.get("pred");
  const gt = file.get("gt");
  // `spacing_given = False` means voxel units (the spacing tensor is then a placeholder);
  // without the flag, a spacing tensor is used when present.
  const given = file.metadata["spacing_given"] !== undefined
    ? metaBoolean(file, "spacing_given")
    : file.has("spacing");
  const spacing = given ? Array.from(file.float64("spacing")) : undefined;
  const expectedDc = file.float64("expected_dc");
  const expectedHd = file.float64("expected_hd95");
  for (
    const [key, values] of [["expected_dc", expectedDc], ["expected_hd95", expectedHd]] as const
  ) {
    if (values.length !== classes - 1) {
      throw new MetricsFixtureError(
        file.source,
        `${key} has ${values.length} values but classes = ${classes} needs ${classes - 1}`,
      );
    }
  }
  const got = perClassMetrics(
    { data: file.int32("pred"), shape: pred.shape },
    { data: file.int32("gt"), shape: gt.shape },
    // Labels beyond the class count are left out, as the official loop over classes does.
    { classes, spacing, outOfRangeLabels: "ignore" },
  );
  const out: Comparison[] = [];
  for (const m of got) {
    const i = m.label - 1;
    out.push(
      compareExact(
        `dc[${m.label}]`,
        m.dice,
        expectedDc[i],
        storedBound(file, "expected_dc", expectedDc[i], RATIO_BOUND),
      ),
      compareExact(
        `hd95[${m.label}]`,
        m.hd95,
        expectedHd[i],
        storedBound(file, "expected_hd95", expectedHd[i], DISTANCE_BOUND),
      ),
    );
  }
  return out;
}

/** Checks `metrics_*.safetensors` fixtures. */
export const metricsRunner: GoldenRunner = {
  kind: "metrics",
  matches(fileName: string): boolean {
    return fileName.startsWith("metrics_") && fileName.endsWith(".safetensors");
  },
  async run(path: string): Promise<FixtureReport> {
    const file = await readSafetensors(path);
    const kind = metaString(file, "kind");
    let comparisons: Comparison[];
    switch (kind) {
      case "binary-pooled":
        comparisons = checkBinaryPooled(file);
        break;
      case "volume-per-class":
        comparisons = checkVolumePerClass(file);
        break;
      default:
        throw new MetricsFixtureError(
          path,
          `unknown kind "${kind}" (expected binary-pooled or volume-per-class)`,
        );
    }
    return {
      fixture: path.split("/").pop()!,
      kind: "metrics",
      comparisons,
      ok: comparisons.length > 0 && comparisons.every((c) => c.ok),
    };
  },
};
