import assert from "node:assert/strict";
import { fixturesOf, goldenFixturesAbsent } from "../golden.ts";
import { vmunetRunner, weightsPathOf } from "./vmunet.ts";

const fixturesAbsent = await goldenFixturesAbsent();

// "gpu": the kernel choices of a discrete GPU (matmul tiles, workgroup-scan forward, the
// channels-last scan backward, the inference scan fed a Δ tensor), run here on whatever
// adapter there is, so that those paths are checked against the official numbers without a GPU.
for (const adapterClass of ["auto", "gpu"] as const) {
  Deno.test({
    name:
      `every *.case.safetensors model fixture matches logits, output, loss and every gradient (${
        adapterClass === "auto" ? "kernels for this adapter" : "kernels chosen for a GPU"
      })`,
    ignore: fixturesAbsent,
  }, async () => {
    for (const path of await fixturesOf(vmunetRunner)) {
      const report = await vmunetRunner.run(path, { adapterClass });
      const failed = report.comparisons.filter((c) => !c.ok);
      assert(report.comparisons.length >= 4, `${path}: too few comparisons`);
      assert(
        report.ok,
        `${path}: ${failed.map((c) => `${c.name} ${c.error} > ${c.bound}`).join(", ")}`,
      );
    }
  });
}

Deno.test("the model runner pairs NAME.case.safetensors with NAME.weights.safetensors", () => {
  assert(vmunetRunner.matches("vmunet_x.case.safetensors"));
  assert(!vmunetRunner.matches("vmunet_x.weights.safetensors"));
  assert(!vmunetRunner.matches("scan_a.safetensors"));
  assert.equal(weightsPathOf("/g/a.b.case.safetensors"), "/g/a.b.weights.safetensors");
});
