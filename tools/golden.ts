/**
 * `deno task golden`: checks every fixture in `testdata/golden/` and in each folder of
 * `$GOLDEN_DIR` (further fixture sets, separated like `PATH`) against this implementation,
 * one line per fixture with its largest error, and fails on any miss, or on a folder that is
 * missing or holds no fixture. Which runner checks a file is decided by its name alone.
 *
 * Flags: `--only KIND[,KIND]` restricts to runners; `--verbose` prints every comparison;
 * `--adapter-class cpu|gpu` makes the kernel choices for that class of adapter instead of
 * the one detected (`gpu` on a software adapter checks the GPU code paths without a GPU).
 *
 * @module
 */

import { parseCommandFlags } from "./cli_flags.ts";
import { basename } from "node:path";
import { goldenDirs, goldenFiles, safetensorsIn } from "./golden/dirs.ts";
import type { FixtureReport, GoldenRunner } from "./golden/runner.ts";
import { RUNNERS } from "./golden/runners.ts";

/**
 * Lists the fixture files (safetensors) of `dir` with the runner for each, or undefined.
 *
 * @throws {GoldenDirError} when the folder is missing or holds no fixture.
 */
export async function discoverFixtures(
  dir: string,
  runners: GoldenRunner[] = RUNNERS,
): Promise<{ path: string; runner?: GoldenRunner }[]> {
  return (await safetensorsIn(dir))
    // The model fixture is a pair: the weights file is read through its case file.
    .filter((path) => !path.endsWith(".weights.safetensors"))
    .map((path) => ({ path, runner: runners.find((r) => r.matches(basename(path))) }));
}

/**
 * The fixture files `runner` checks in every golden folder ({@linkcode goldenDirs}), sorted
 * per folder; throws when a folder is missing or empty, or when none is the runner's.
 *
 * @param runner The runner.
 * @returns Paths.
 */
export async function fixturesOf(runner: GoldenRunner): Promise<string[]> {
  return await goldenFiles(
    (name) => !name.endsWith(".weights.safetensors") && runner.matches(name),
  );
}

function summarize(report: FixtureReport): string {
  const worst = report.comparisons.reduce(
    (acc, c) => (!c.ok || c.error / (c.bound || 1) > acc.error / (acc.bound || 1) ? c : acc),
    report.comparisons[0],
  );
  const failed = report.comparisons.filter((c) => !c.ok).map((c) => c.name);
  return `${report.ok ? "ok  " : "FAIL"} ${report.kind.padEnd(8)} ${report.fixture}  ` +
    `${report.comparisons.length} checks, worst ${worst?.name} ${worst?.measure} ` +
    `${worst?.error.toExponential(2)} (bound ${worst?.bound.toExponential(1)})` +
    (failed.length ? `  failed: ${failed.join(", ")}` : "");
}

const USAGE = `deno task golden [flags]

Checks every fixture in testdata/golden/ and in each folder of $GOLDEN_DIR (further fixture
sets, separated like PATH) against this implementation; a missing or empty folder fails.

  --only KIND[,KIND]       only these runners (${RUNNERS.map((r) => r.kind).join(", ")})
  --verbose                print every comparison
  --adapter-class CLASS    auto (default) | cpu | gpu: the kernels chosen for that class
  -h, --help               this text`;

async function main(): Promise<number> {
  const parsed = parseCommandFlags("golden", USAGE, {
    args: Deno.args,
    options: {
      only: { type: "string" },
      verbose: { type: "boolean", default: false },
      "adapter-class": { type: "string", default: "auto" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  const adapterClass = values["adapter-class"];
  if (adapterClass !== "auto" && adapterClass !== "cpu" && adapterClass !== "gpu") {
    console.error(`golden: --adapter-class must be auto, cpu or gpu, got '${adapterClass}'`);
    return 2;
  }
  const only = values.only?.split(",");
  let failures = 0;
  let checked = 0;
  for (const dir of goldenDirs()) {
    console.log(
      `golden fixtures in ${dir}${
        adapterClass === "auto" ? "" : ` (kernels chosen for a ${adapterClass} adapter)`
      }`,
    );
    let fixtures;
    try {
      fixtures = await discoverFixtures(dir);
    } catch (error) {
      console.log(
        `FAIL ${"-".padEnd(8)} ${String(error instanceof Error ? error.message : error)}`,
      );
      failures++;
      continue;
    }
    for (const { path, runner } of fixtures) {
      const name = basename(path);
      if (!runner) {
        if (!only) {
          console.log(`FAIL ${"-".padEnd(8)} ${name}  no runner recognises this fixture`);
          failures++;
        }
        continue;
      }
      if (only && !only.includes(runner.kind)) continue;
      try {
        const report = await runner.run(path, { adapterClass });
        console.log(summarize(report));
        if (values.verbose) {
          for (const c of report.comparisons) {
            console.log(
              `     ${c.ok ? "ok  " : "FAIL"} ${c.name.padEnd(48)} ${c.measure} ${
                c.error.toExponential(3)
              } <= ${c.bound.toExponential(1)}`,
            );
          }
        }
        checked++;
        if (!report.ok) failures++;
      } catch (error) {
        console.log(`FAIL ${runner.kind.padEnd(8)} ${name}  ${String(error)}`);
        failures++;
      }
    }
  }
  console.log(`${checked} fixtures checked, ${failures} failed`);
  return failures === 0 && checked > 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
