import assert from "node:assert/strict";
import { join } from "node:path";
import { serializeSafetensors } from "@vmunet/tensor/safetensors";
import { fixtureTests } from "./fixture_tests.ts";
import { MetricsFixtureError, metricsRunner } from "./metrics.ts";

fixtureTests(metricsRunner, "every metrics_*.safetensors golden fixture passes", {
  check: (_path, report) => assert.ok(report.comparisons.length >= 2),
});

Deno.test("the metrics runner fails a fixture whose expectations are wrong", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pred = new Int32Array([0, 1, 1, 0, 2, 2, 0, 0]);
    const gt = new Int32Array([0, 1, 0, 0, 2, 2, 2, 0]);
    const tensors = {
      pred: { dtype: "I32" as const, shape: [2, 2, 2], data: pred },
      gt: { dtype: "I32" as const, shape: [2, 2, 2], data: gt },
      spacing: { dtype: "F32" as const, shape: [3], data: [1, 1, 1] },
      expected_dc: { dtype: "F64" as const, shape: [2], data: [2 / 3, 0.8] },
      expected_hd95: { dtype: "F64" as const, shape: [2], data: [0.95, 0] },
    };
    const meta = { kind: "volume-per-class", classes: "3", spacing_given: "False" };
    const good = join(dir, "metrics_good.safetensors");
    await Deno.writeFile(good, serializeSafetensors(tensors, meta));
    const report = await metricsRunner.run(good);
    assert.deepEqual(
      report.comparisons.map((c) => [c.name, c.ok]),
      [["dc[1]", true], ["hd95[1]", false], ["dc[2]", true], ["hd95[2]", false]],
    );
    assert.equal(report.ok, false);

    const unknown = join(dir, "metrics_unknown.safetensors");
    await Deno.writeFile(unknown, serializeSafetensors(tensors, { ...meta, kind: "other" }));
    await assert.rejects(
      metricsRunner.run(unknown),
      (e: Error) => e instanceof MetricsFixtureError && /unknown kind "other"/.test(e.message),
    );
    const short = join(dir, "metrics_short.safetensors");
    await Deno.writeFile(short, serializeSafetensors(tensors, { ...meta, classes: "4" }));
    await assert.rejects(
      metricsRunner.run(short),
      (e: Error) =>
        e instanceof MetricsFixtureError &&
        /expected_dc has 2 values but classes = 4/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the metrics runner checks binary-pooled counts exactly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const prob = { dtype: "F32" as const, shape: [2, 1, 2], data: [0.9, 0.2, 0.5, 0.7] };
    const gt = { dtype: "F32" as const, shape: [2, 1, 2], data: [1, 0, 0, 1] };
    const meta = {
      kind: "binary-pooled",
      threshold: "0.5",
      tp: "2.0",
      tn: "1.0",
      fp: "1.0",
      fn: "0.0",
      miou: String(2 / 3),
      dsc: "0.8",
      accuracy: "0.75",
      sensitivity: "1.0",
      specificity: "0.5",
    };
    const path = join(dir, "metrics_isic_t.safetensors");
    await Deno.writeFile(path, serializeSafetensors({ prob, gt }, meta));
    assert.equal((await metricsRunner.run(path)).ok, true);
    await Deno.writeFile(path, serializeSafetensors({ prob, gt }, { ...meta, tp: "3.0" }));
    const bad = await metricsRunner.run(path);
    assert.deepEqual(bad.comparisons.filter((c) => !c.ok).map((c) => c.name), ["tp"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
