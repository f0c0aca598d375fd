import assert from "node:assert/strict";
import { goldenDir, goldenFixturesAbsent } from "../golden.ts";
import { scanRunner } from "./scan.ts";

const fixturesAbsent = await goldenFixturesAbsent();

Deno.test({
  name: "every scan_*.safetensors golden fixture matches within tolerance",
  ignore: fixturesAbsent,
}, async () => {
  const dir = goldenDir();
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && scanRunner.matches(e.name)) files.push(`${dir}/${e.name}`);
  }
  assert(files.length > 0, `no scan_*.safetensors in ${dir}`);
  for (const f of files.sort()) {
    const report = await scanRunner.run(f);
    const failed = report.comparisons.filter((c) => !c.ok);
    assert.equal(report.comparisons.length, 8, `${f}: expected out and 7 gradients`);
    assert(report.ok, `${f}: ${failed.map((c) => `${c.name} ${c.error} > ${c.bound}`).join(", ")}`);
  }
});
