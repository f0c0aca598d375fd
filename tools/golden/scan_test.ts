import assert from "node:assert/strict";
import { fixturesOf, goldenFixturesAbsent } from "../golden.ts";
import { scanRunner } from "./scan.ts";

const fixturesAbsent = await goldenFixturesAbsent();

for (const adapterClass of ["auto", "gpu"] as const) {
  Deno.test({
    name: `every scan_*.safetensors golden fixture matches within tolerance (${
      adapterClass === "auto" ? "kernels for this adapter" : "kernels chosen for a GPU"
    })`,
    ignore: fixturesAbsent,
  }, async () => {
    const files = await fixturesOf(scanRunner);
    for (const f of files) {
      const report = await scanRunner.run(f, { adapterClass });
      const failed = report.comparisons.filter((c) => !c.ok);
      assert.equal(report.comparisons.length, 8, `${f}: expected out and 7 gradients`);
      assert(
        report.ok,
        `${f}: ${failed.map((c) => `${c.name} ${c.error} > ${c.bound}`).join(", ")}`,
      );
    }
  });
}
