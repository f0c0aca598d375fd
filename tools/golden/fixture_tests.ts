/**
 * Registers the golden-fixture tests of one runner: every fixture it recognises in the
 * golden folders (`testdata/golden/` and each folder of `GOLDEN_DIR`) must pass, once per
 * adapter class asked for (the kernels chosen for this adapter, and those chosen for a GPU).
 * Never ignored: a missing or empty folder, or no fixture of the runner's kind, fails.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fixturesOf } from "../golden.ts";
import type { FixtureReport, GoldenRunner, RunOptions } from "./runner.ts";

/** Options of {@linkcode fixtureTests}. */
export interface FixtureTestOptions {
  /** Adapter classes to run (default `["auto"]`); with several, each test name says which. */
  adapterClasses?: readonly NonNullable<RunOptions["adapterClass"]>[];
  /** Extra assertions on each fixture's report. */
  check?: (path: string, report: FixtureReport) => void;
}

const LABELS = {
  auto: "kernels for this adapter",
  cpu: "kernels chosen for a CPU adapter",
  gpu: "kernels chosen for a GPU",
} as const;

/**
 * Registers one `Deno.test` per adapter class running every fixture of `runner`.
 *
 * @param runner The fixture runner.
 * @param name The test name (the adapter class is appended when there are several).
 * @param options Adapter classes and extra checks.
 */
export function fixtureTests(
  runner: GoldenRunner,
  name: string,
  options: FixtureTestOptions = {},
): void {
  const classes = options.adapterClasses ?? ["auto"];
  for (const adapterClass of classes) {
    Deno.test(classes.length > 1 ? `${name} (${LABELS[adapterClass]})` : name, async () => {
      for (const path of await fixturesOf(runner)) {
        const report = await runner.run(path, { adapterClass });
        const failed = report.comparisons.filter((c) => !c.ok);
        options.check?.(path, report);
        assert(
          report.ok,
          `${path}: ${failed.map((c) => `${c.name} ${c.error} > ${c.bound}`).join(", ")}`,
        );
      }
    });
  }
}
