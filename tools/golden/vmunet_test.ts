import assert from "node:assert/strict";
import { fixtureTests } from "./fixture_tests.ts";
import { vmunetRunner, weightsPathOf } from "./vmunet.ts";

// "gpu": the kernel choices of a discrete GPU (matmul tiles, the chunked scan family forward
// and backward, the inference scan fed a Δ tensor), run here on whatever
// adapter there is, so that those paths are checked against the official numbers without a GPU.
fixtureTests(
  vmunetRunner,
  "every *.case.safetensors model fixture matches logits, output, loss and every gradient",
  {
    adapterClasses: ["auto", "gpu"],
    check: (path, report) => assert(report.comparisons.length >= 4, `${path}: too few comparisons`),
  },
);

Deno.test("the model runner pairs NAME.case.safetensors with NAME.weights.safetensors", () => {
  assert(vmunetRunner.matches("vmunet_x.case.safetensors"));
  assert(!vmunetRunner.matches("vmunet_x.weights.safetensors"));
  assert(!vmunetRunner.matches("scan_a.safetensors"));
  assert.equal(weightsPathOf("/g/a.b.case.safetensors"), "/g/a.b.weights.safetensors");
});
