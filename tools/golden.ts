/**
 * `deno task golden`: checks every fixture in `$GOLDEN_DIR` (default `../shared/golden`)
 * against this implementation, one line per fixture with its largest error, and fails on
 * any miss. Which runner checks a file is decided by its name alone.
 *
 * Flags: `--only KIND[,KIND]` restricts to runners; `--verbose` prints every comparison;
 * `--adapter-class cpu|gpu` makes the kernel choices for that class of adapter instead of
 * the one detected (`gpu` on a software adapter checks the GPU code paths without a GPU).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import type { FixtureReport, GoldenRunner } from "./golden/runner.ts";
import { RUNNERS } from "./golden/runners.ts";

/** The fixture folder: `$GOLDEN_DIR`, or `../shared/golden` beside the project root. */
export function goldenDir(): string {
  return Deno.env.get("GOLDEN_DIR") ??
    resolve(new URL("../../shared/golden", import.meta.url).pathname);
}

/**
 * Whether the golden tests have nothing to check: `GOLDEN_DIR` unset and no
 * `../shared/golden` beside the checkout (a bare clone). With `GOLDEN_DIR` set, a missing
 * folder is a failure, not an absence.
 */
export async function goldenFixturesAbsent(): Promise<boolean> {
  return Deno.env.get("GOLDEN_DIR") === undefined &&
    !(await Deno.stat(goldenDir()).then((s) => s.isDirectory, () => false));
}

/** Lists fixture files (safetensors) in `dir` with the runner for each, or undefined. */
export async function discoverFixtures(
  dir: string,
  runners: GoldenRunner[] = RUNNERS,
): Promise<{ path: string; runner?: GoldenRunner }[]> {
  const found: { path: string; runner?: GoldenRunner }[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".safetensors")) continue;
    // The model fixture is a pair: the weights file is read through its case file.
    if (entry.name.endsWith(".weights.safetensors")) continue;
    found.push({ path: join(dir, entry.name), runner: runners.find((r) => r.matches(entry.name)) });
  }
  return found.sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * The fixture files `runner` checks in the golden folder, sorted; throws when there are none.
 *
 * @param runner The runner.
 * @returns Paths.
 */
export async function fixturesOf(runner: GoldenRunner): Promise<string[]> {
  const dir = goldenDir();
  const paths = (await discoverFixtures(dir, [runner])).filter((f) => f.runner).map((f) => f.path);
  if (paths.length === 0) throw new Error(`no ${runner.kind} fixtures in ${dir}`);
  return paths;
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

Checks every fixture in $GOLDEN_DIR (default ../shared/golden) against this implementation.

  --only KIND[,KIND]       only these runners (${RUNNERS.map((r) => r.kind).join(", ")})
  --verbose                print every comparison
  --adapter-class CLASS    auto (default) | cpu | gpu: the kernels chosen for that class
  -h, --help               this text`;

function parseGoldenArgs(args: string[]) {
  return parseArgs({
    args,
    options: {
      only: { type: "string" },
      verbose: { type: "boolean", default: false },
      "adapter-class": { type: "string", default: "auto" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseGoldenArgs>;
  try {
    parsed = parseGoldenArgs(Deno.args);
  } catch (error) {
    console.error(`golden: ${(error as Error).message.split(". ")[0]} (see --help)`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const adapterClass = values["adapter-class"];
  if (adapterClass !== "auto" && adapterClass !== "cpu" && adapterClass !== "gpu") {
    console.error(`golden: --adapter-class must be auto, cpu or gpu, got '${adapterClass}'`);
    return 2;
  }
  const only = values.only?.split(",");
  const dir = goldenDir();
  console.log(
    `golden fixtures in ${dir}${
      adapterClass === "auto" ? "" : ` (kernels chosen for a ${adapterClass} adapter)`
    }`,
  );
  let failures = 0;
  let checked = 0;
  for (const { path, runner } of await discoverFixtures(dir)) {
    const name = path.split("/").pop()!;
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
  console.log(`${checked} fixtures checked, ${failures} failed`);
  return failures === 0 && checked > 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
