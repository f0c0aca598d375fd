/**
 * Command-line parsing of `train`, `eval` and `predict` (`node:util` `parseArgs`, strict) and
 * their help: each command's own flags in a table here, the setting flags from
 * `setting_flags.ts`; an unknown flag or preset is a {@linkcode UsageError} listing the valid
 * ones.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  collectSettings,
  type OptionSpec,
  SETTING_FLAGS,
  settingArg,
  type SettingFlag,
  settingOptions,
} from "./setting_flags.ts";
import { TRAIN_PRESETS, UsageError } from "./train_config.ts";

const MODEL_KEYS = new Set([
  "model",
  "dims",
  "depths",
  "depthsDecoder",
  "dState",
  "imageSize",
  "numClasses",
  "inChannels",
  "dataDir",
  "data",
  "evalBatchSize",
  "seed",
  "syntheticValCount",
  "valFraction",
]);

/** Parsed `train` arguments. */
export interface TrainArgs {
  /** Preset name (default: the config file's `preset`, else `synthetic`). */
  preset?: string;
  /** JSON config file. */
  configFile?: string;
  /** Run name (folder under `runsDir`). */
  name?: string;
  /** The folder holding runs (default `runs`). */
  runsDir: string;
  /** Continue the run in the folder. */
  resume: boolean;
  /** Replace the run in the folder. */
  force: boolean;
  /** Setting overrides from flags. */
  settings: Record<string, unknown>;
  /** `--help`. */
  help: boolean;
}

/** Parsed `eval` arguments. */
export interface EvalArgs {
  /** Checkpoint file. */
  checkpoint?: string;
  /** Preset whose data and model settings are the defaults. */
  preset?: string;
  /** Where eval.json / eval.md go (default: the checkpoint's folder). */
  out?: string;
  /** Which split of the dataset (default: the validation / test split). */
  split?: string;
  /** Foreground threshold of binary predictions (default 0.5). */
  threshold: number;
  /** Setting overrides (data and model). */
  settings: Record<string, unknown>;
  /** `--help`. */
  help: boolean;
}

/** Parsed `predict` arguments. */
export interface PredictArgs {
  /** Checkpoint file. */
  checkpoint?: string;
  /** Image, folder of images or `.npy.h5` volume. */
  input?: string;
  /** Output folder. */
  out: string;
  /** Foreground threshold of binary predictions (default 0.5). */
  threshold: number;
  /** Setting overrides (model and input size). */
  settings: Record<string, unknown>;
  /** `--help`. */
  help: boolean;
}

/** A flag of one command that is not a training setting. */
interface CommandFlag {
  /** The flag name without dashes. */
  flag: string;
  /** What its value is called in the help (`FILE`); none for a switch. */
  arg?: string;
  /** One-line help. */
  help: string;
}

const PRESET_NAMES = Object.keys(TRAIN_PRESETS).join(" | ");

/** The flags of `train` beside the settings, in help order. */
const TRAIN_FLAGS: readonly CommandFlag[] = [
  { flag: "preset", arg: "NAME", help: `${PRESET_NAMES} (default synthetic)` },
  { flag: "config", arg: "FILE.json", help: "settings file (preset < file < flags)" },
  { flag: "name", arg: "NAME", help: "run folder name (default: preset-timestamp)" },
  { flag: "runs-dir", arg: "DIR", help: "where runs go (default runs)" },
  { flag: "resume", help: "continue the run in runs/<name>" },
  { flag: "force", help: "replace the run in runs/<name>" },
];

/** The flags of `eval` beside the data and model settings, in help order. */
const EVAL_FLAGS: readonly CommandFlag[] = [
  { flag: "checkpoint", arg: "FILE", help: "weights to evaluate (required)" },
  { flag: "preset", arg: "NAME", help: `${PRESET_NAMES}: data and model defaults` },
  { flag: "split", arg: "NAME", help: "val (default) | train | all" },
  { flag: "threshold", arg: "X", help: "binary foreground threshold (default 0.5)" },
  {
    flag: "out",
    arg: "DIR",
    help: "where eval.json and eval.md go (default: beside the checkpoint)",
  },
];

/** The flags of `predict` beside the model settings, in help order. */
const PREDICT_FLAGS: readonly CommandFlag[] = [
  { flag: "checkpoint", arg: "FILE", help: "weights (required)" },
  { flag: "input", arg: "PATH", help: "image, folder of images or .npy.h5 volume (required)" },
  { flag: "out", arg: "DIR", help: "output folder (default predictions)" },
  { flag: "threshold", arg: "X", help: "binary foreground threshold (default 0.5)" },
];

/** The `parseArgs` options of a command's own flags, with `-h`/`--help`. */
function commandOptions(flags: readonly CommandFlag[]): OptionSpec {
  const spec: OptionSpec = { help: { type: "boolean", short: "h" } };
  for (const f of flags) spec[f.flag] = { type: f.arg === undefined ? "boolean" : "string" };
  return spec;
}

function parseStrict(
  command: string,
  args: string[],
  options: OptionSpec,
): Record<string, string | boolean | undefined> {
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > 0) {
      throw new UsageError(
        `${command}: unexpected argument "${positionals[0]}" (flags are --name value)`,
      );
    }
    return values as Record<string, string | boolean | undefined>;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const message = (error as Error).message;
    const flags = Object.keys(options).sort().map((f) => `--${f}`).join(", ");
    const unknown = /Unknown option '([^']+)'/.exec(message);
    if (unknown) {
      throw new UsageError(`${command}: unknown flag ${unknown[1]}; valid flags: ${flags}`);
    }
    throw new UsageError(`${command}: ${message.replace(/^.*?: /, "")}`);
  }
}

function checkPreset(name: string | undefined): void {
  if (name !== undefined && !TRAIN_PRESETS[name]) {
    throw new UsageError(
      `unknown preset "${name}"; valid presets: ${Object.keys(TRAIN_PRESETS).join(", ")}`,
    );
  }
}

/**
 * Parses `train` arguments.
 *
 * @param args The arguments after `train`.
 * @returns The parsed arguments.
 * @throws {UsageError} for an unknown flag, preset or malformed value.
 */
export function parseTrainArgs(args: string[]): TrainArgs {
  const values = parseStrict("train", args, {
    ...commandOptions(TRAIN_FLAGS),
    ...settingOptions(),
  });
  const preset = values.preset as string | undefined;
  checkPreset(preset);
  return {
    preset,
    configFile: values.config as string | undefined,
    name: values.name as string | undefined,
    runsDir: (values["runs-dir"] as string | undefined) ?? "runs",
    resume: values.resume === true,
    force: values.force === true,
    settings: collectSettings(values),
    help: values.help === true,
  };
}

const isEvalSetting = (f: SettingFlag) => MODEL_KEYS.has(f.key);

function parseThreshold(text: string | boolean | undefined): number {
  if (text === undefined) return 0.5;
  const v = Number(text);
  if (!(v > 0 && v < 1)) throw new UsageError(`--threshold must be in (0, 1), got "${text}"`);
  return v;
}

/**
 * Parses `eval` arguments.
 *
 * @param args The arguments after `eval`.
 * @returns The parsed arguments.
 * @throws {UsageError} for an unknown flag, preset or malformed value.
 */
export function parseEvalArgs(args: string[]): EvalArgs {
  const values = parseStrict("eval", args, {
    ...commandOptions(EVAL_FLAGS),
    ...settingOptions(isEvalSetting),
  });
  checkPreset(values.preset as string | undefined);
  return {
    checkpoint: values.checkpoint as string | undefined,
    preset: values.preset as string | undefined,
    out: values.out as string | undefined,
    split: values.split as string | undefined,
    threshold: parseThreshold(values.threshold),
    settings: collectSettings(values, isEvalSetting),
    help: values.help === true,
  };
}

const isPredictSetting = (f: SettingFlag) =>
  ["model", "dims", "depths", "depthsDecoder", "dState", "imageSize", "numClasses", "inChannels"]
    .includes(f.key);

/**
 * Parses `predict` arguments.
 *
 * @param args The arguments after `predict`.
 * @returns The parsed arguments.
 * @throws {UsageError} for an unknown flag or malformed value.
 */
export function parsePredictArgs(args: string[]): PredictArgs {
  const values = parseStrict("predict", args, {
    ...commandOptions(PREDICT_FLAGS),
    ...settingOptions(isPredictSetting),
  });
  return {
    checkpoint: values.checkpoint as string | undefined,
    input: values.input as string | undefined,
    out: (values.out as string | undefined) ?? "predictions",
    threshold: parseThreshold(values.threshold),
    settings: collectSettings(values, isPredictSetting),
    help: values.help === true,
  };
}

function helpLine(flag: string, arg: string | undefined, help: string): string {
  return `  --${(arg === undefined ? flag : `${flag} ${arg}`).padEnd(25)}${help}`;
}

/** The help lines of a command's own flags, then of its setting flags. */
function flagTable(
  flags: readonly CommandFlag[],
  filter?: (f: SettingFlag) => boolean,
): string {
  const settings = SETTING_FLAGS.filter((f) => !filter || filter(f))
    .map((f) => helpLine(f.flag, settingArg(f), f.help));
  return [...flags.map((f) => helpLine(f.flag, f.arg, f.help)), ...settings].join("\n");
}

/** The help text of each command. */
export function usage(command: "train" | "eval" | "predict" | "main"): string {
  switch (command) {
    case "train":
      return `deno task train [flags]

Trains VM-UNet. With no flags: a small model on the built-in synthetic dataset.

${flagTable(TRAIN_FLAGS)}`;
    case "eval":
      return `deno task eval --checkpoint FILE [--data DIR] [flags]

Evaluates a checkpoint (ours .safetensors or an official .pth) with the paper's metrics.

${flagTable(EVAL_FLAGS, isEvalSetting)}`;
    case "predict":
      return `deno task predict --checkpoint FILE --input IMAGE|FOLDER|VOLUME.npy.h5 [--out DIR]

Writes mask PNGs (and .npy for volumes) and colour overlays.

${flagTable(PREDICT_FLAGS, isPredictSetting)}`;
    default:
      return `usage: deno run -A apps/train/main.ts <train|eval|predict> [flags]
       (deno task train | deno task eval | deno task predict; --help for each)`;
  }
}
