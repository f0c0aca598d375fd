import assert from "node:assert/strict";
import { fixtureTests } from "./fixture_tests.ts";
import { scanRunner } from "./scan.ts";

fixtureTests(scanRunner, "every scan_*.safetensors golden fixture matches within tolerance", {
  adapterClasses: ["auto", "gpu"],
  check: (path, report) =>
    assert.equal(report.comparisons.length, 8, `${path}: expected out and 7 gradients`),
});
