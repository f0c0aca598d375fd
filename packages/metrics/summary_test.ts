import assert from "node:assert/strict";
import { readJson } from "../../tools/testing.ts";
import {
  type ClassMetrics,
  EvaluationSummaryBuilder,
  InvalidOptionError,
  MetricsError,
  SYNAPSE_CLASS_NAMES,
} from "./mod.ts";

const reference = await readJson<{
  organ_mean: { values: number[]; np_mean: number };
}>(new URL("./testdata/scipy_reference.json", import.meta.url));

function classes(dice: number[], hd95: number[]): ClassMetrics[] {
  return dice.map((d, i) => ({
    label: i + 1,
    dice: d,
    hd95: hd95[i],
    hausdorff: 2 * hd95[i],
    asd: hd95[i] / 4,
    assd: hd95[i] / 2,
    predVoxels: 1,
    gtVoxels: 1,
    emptyCase: "computed",
  }));
}

Deno.test("the summary averages each organ over cases, then the organs", () => {
  const builder = new EvaluationSummaryBuilder();
  const d1 = [0.9, 0.5, 0.8, 0.7, 0.95, 0.6, 0.85, 0.75];
  const d2 = [0.8, 0.0, 0.9, 0.9, 0.97, 0.4, 0.95, 0.65];
  const h1 = [2, 10, 3, 4, 5, 12, 3, 8];
  const h2 = [4, 0, 5, 2, 3, 8, 1, 6];
  builder.addCase("case0001", classes(d1, h1)).addCase("case0002", classes(d2, h2));
  const s = builder.summary();
  assert.equal(s.cases, 2);
  assert.deepEqual(s.organs.map((o) => o.name), SYNAPSE_CLASS_NAMES);
  assert.deepEqual(s.organs.map((o) => o.dice), d1.map((d, i) => (0 + d + d2[i]) / 2));
  assert.deepEqual(s.organs.map((o) => o.hd95), h1.map((h, i) => (h + h2[i]) / 2));
  assert.equal(s.organs[1].name, "gallbladder");
  assert.equal(s.organs[2].name, "left kidney");
  const meanHd = h1.reduce((a, h, i) => a + (h + h2[i]) / 2, 0) / 8;
  assert.ok(Math.abs(s.mean.hd95 - meanHd) < 1e-12);
  assert.ok(Math.abs(s.mean.hausdorff - 2 * meanHd) < 1e-12);
  assert.equal(s.perCase[1].name, "case0002");
});

Deno.test("the mean over organs equals numpy's mean to the last bit", () => {
  const values = reference.organ_mean.values;
  const s = new EvaluationSummaryBuilder()
    .addCase("case", classes(values, values))
    .summary();
  assert.equal(s.mean.dice, reference.organ_mean.np_mean);
});

Deno.test("toMarkdown() writes the per-organ table and the paper's row", () => {
  const md = new EvaluationSummaryBuilder()
    .addCase("a", classes([0.9, 0.5, 0.8, 0.7, 0.95, 0.6, 0.85, 0.75], [1, 2, 3, 4, 5, 6, 7, 8]))
    .toMarkdown();
  const lines = md.split("\n");
  assert.equal(lines[0], "| Organ | Dice (%) | HD95 | HD | ASD | ASSD |");
  assert.equal(lines[2], "| aorta | 90.00 | 1.00 | 2.00 | 0.25 | 0.50 |");
  assert.equal(lines[10], "| **mean** | **75.63** | **4.50** | 9.00 | 1.13 | 2.25 |");
  assert.equal(
    lines[12],
    "| DSC | HD95 | aorta | gallbladder | left kidney | right kidney | liver | pancreas | spleen | stomach |",
  );
  assert.equal(
    lines[14],
    "| 75.63 | 4.50 | 90.00 | 50.00 | 80.00 | 70.00 | 95.00 | 60.00 | 85.00 | 75.00 |",
  );
  assert.equal(lines.at(-1), "1 case.");
});

Deno.test("toJSON() round-trips through JSON.stringify", () => {
  const builder = new EvaluationSummaryBuilder({ classNames: ["liver", "spleen"] })
    .addCase("c1", classes([0.5, 1], [3, 0]));
  const parsed = JSON.parse(JSON.stringify(builder));
  assert.deepEqual(parsed, builder.summary());
  assert.deepEqual(parsed.organs.map((o: { name: string }) => o.name), ["liver", "spleen"]);
  assert.equal(parsed.mean.dice, 0.75);
});

Deno.test("summaries reject mismatched class lists and names, and zero cases", () => {
  assert.throws(() => new EvaluationSummaryBuilder().summary(), MetricsError);
  const b = new EvaluationSummaryBuilder().addCase("a", classes([1, 1], [0, 0]));
  assert.throws(
    () => b.addCase("b", classes([1, 1, 1], [0, 0, 0])),
    (e: Error) =>
      e instanceof MetricsError &&
      /case "b" has 3 foreground classes; earlier cases have 2/.test(e.message),
  );
  assert.throws(
    () =>
      new EvaluationSummaryBuilder({ classNames: ["liver"] }).addCase("a", classes([1, 1], [0, 0])),
    (e: Error) => e instanceof InvalidOptionError && /classNames has 1 names/.test(e.message),
  );
  const shuffled = classes([1, 1], [0, 0]).reverse();
  assert.throws(
    () => new EvaluationSummaryBuilder().addCase("a", shuffled),
    (e: Error) => e instanceof MetricsError && /entry 0 has label 2/.test(e.message),
  );
  assert.deepEqual(b.classNames, ["class 1", "class 2"]);
});
