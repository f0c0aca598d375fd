import assert from "node:assert/strict";
import { join } from "node:path";
import { goldenDir, goldenFixturesAbsent } from "../golden.ts";
import { vmunetRunner, weightsPathOf } from "./vmunet.ts";

const fixturesAbsent = await goldenFixturesAbsent();

Deno.test({
  name: "every *.case.safetensors model fixture matches logits, output, loss and every gradient",
  ignore: fixturesAbsent,
}, async () => {
  const dir = goldenDir();
  const cases: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && vmunetRunner.matches(e.name)) cases.push(join(dir, e.name));
  }
  assert(cases.length > 0, `no *.case.safetensors in ${dir}`);
  for (const path of cases.sort()) {
    const report = await vmunetRunner.run(path);
    const failed = report.comparisons.filter((c) => !c.ok);
    assert(report.comparisons.length >= 4, `${path}: too few comparisons`);
    assert(
      report.ok,
      `${path}: ${failed.map((c) => `${c.name} ${c.error} > ${c.bound}`).join(", ")}`,
    );
  }
});

Deno.test("the model runner pairs NAME.case.safetensors with NAME.weights.safetensors", () => {
  assert(vmunetRunner.matches("vmunet_x.case.safetensors"));
  assert(!vmunetRunner.matches("vmunet_x.weights.safetensors"));
  assert(!vmunetRunner.matches("scan_a.safetensors"));
  assert.equal(weightsPathOf("/g/a.b.case.safetensors"), "/g/a.b.weights.safetensors");
});
