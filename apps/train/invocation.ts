/**
 * What a `train` invocation means: the effective configuration (preset, `--config` file and
 * flags, or the saved configuration of the run being resumed) and the run folder.
 *
 * @module
 */

import type { TrainArgs } from "./cli.ts";
import { detectDataKind } from "./data.ts";
import { RunDirError } from "./run_dir.ts";
import {
  applySettings,
  resolveConfig,
  TRAIN_PRESETS,
  type TrainConfig,
  UsageError,
} from "./train_config.ts";

/** Settings that may change when resuming (they do not change the computation). */
const RESUMABLE = new Set([
  "epochs",
  "workers",
  "logEvery",
  "evalEvery",
  "reportImages",
  "maxGradNorm",
]);

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${
    p(d.getMinutes())
  }${p(d.getSeconds())}`;
}

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(`--config ${path}: cannot read (${(error as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--config ${path}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`--config ${path}: must hold a JSON object of settings`);
  }
  return value as Record<string, unknown>;
}

async function latestRun(runsDir: string): Promise<string> {
  let best: { dir: string; time: number } | null = null;
  try {
    for await (const e of Deno.readDir(runsDir)) {
      if (!e.isDirectory) continue;
      const dir = `${runsDir}/${e.name}`;
      try {
        const info = await Deno.stat(`${dir}/last.safetensors`);
        const time = info.mtime?.getTime() ?? 0;
        if (!best || time > best.time) best = { dir, time };
      } catch {
        // not a run with a checkpoint
      }
    }
  } catch {
    // no runs folder
  }
  if (!best) throw new RunDirError(`--resume: no run with a checkpoint in ${runsDir}/`);
  return best.dir;
}

/**
 * Resolves the effective configuration and the run folder of a `train` invocation.
 *
 * @param args Parsed arguments.
 * @returns The configuration and folder.
 * @throws {UsageError} for bad settings, {@linkcode RunDirError} for a bad resume target.
 */
export async function resolveTrainInvocation(
  args: TrainArgs,
): Promise<{ config: TrainConfig; runDir: string }> {
  if (args.resume) {
    const runDir = args.name ? `${args.runsDir}/${args.name}` : await latestRun(args.runsDir);
    let saved: TrainConfig;
    try {
      saved = JSON.parse(await Deno.readTextFile(`${runDir}/config.json`));
    } catch {
      throw new RunDirError(`--resume: ${runDir} holds no run (no readable config.json)`);
    }
    const file = args.configFile ? await readConfigFile(args.configFile) : {};
    const changes = { ...file, ...args.settings };
    for (const [key, value] of Object.entries(changes)) {
      const before = (saved as unknown as Record<string, unknown>)[key];
      if (!RESUMABLE.has(key) && JSON.stringify(before) !== JSON.stringify(value)) {
        throw new UsageError(
          `--resume: "${key}" cannot change when resuming (run has ${
            JSON.stringify(before)
          }, asked ${JSON.stringify(value)}); only ${[...RESUMABLE].join(", ")} may`,
        );
      }
    }
    return { config: applySettings(saved, changes), runDir };
  }
  const file = args.configFile ? await readConfigFile(args.configFile) : {};
  const presetName = args.preset ?? (typeof file.preset === "string" ? file.preset : "synthetic");
  const { preset: _ignored, ...fileSettings } = file;
  const settings = { ...fileSettings, ...args.settings };
  const base = TRAIN_PRESETS[presetName];
  if (
    base && base.data === "synthetic" && settings.dataDir !== undefined &&
    settings.data === undefined
  ) {
    settings.data = await detectDataKind(String(settings.dataDir));
  }
  const config = resolveConfig(presetName, settings);
  const name = args.name ?? `${presetName}-${timestamp()}`;
  if (name.includes("/") || name.includes("\\") || name === "." || name === "..") {
    throw new UsageError(`--name "${name}" must be a plain folder name`);
  }
  return { config, runDir: `${args.runsDir}/${name}` };
}
