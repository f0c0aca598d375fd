/**
 * Command-line parsing of `train`, `eval` and `predict` (`node:util` `parseArgs`, strict):
 * every training setting has a flag (`--batch-size 16` for `batchSize`), an unknown flag or
 * preset is a {@linkcode UsageError} listing the valid ones.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DATA_KINDS, SELECTIONS, TRAIN_PRESETS, UsageError } from "./train_config.ts";

/** How a flag's text becomes a setting value. */
type Kind = "int" | "number" | "string" | "ints" | "pair" | "bool";

/** One setting flag. */
interface SettingFlag {
  /** The TrainConfig key. */
  key: string;
  /** The flag name without dashes. */
  flag: string;
  /** Value kind. */
  kind: Kind;
  /** One-line help. */
  help: string;
}

/** The flags that set training settings, in help order. */
export const SETTING_FLAGS: readonly SettingFlag[] = [
  { key: "dataDir", flag: "data", kind: "string", help: "dataset folder" },
  {
    key: "data",
    flag: "dataset",
    kind: "string",
    help: `dataset kind: ${DATA_KINDS.join(", ")} (default: preset, or detected from --data)`,
  },
  { key: "model", flag: "model", kind: "string", help: "model preset: vmunet-s, vmunet-t" },
  { key: "dims", flag: "dims", kind: "int", help: "first stage width (stages d, 2d, 4d, 8d)" },
  { key: "depths", flag: "depths", kind: "ints", help: "encoder blocks per stage, e.g. 2,2,2,2" },
  { key: "depthsDecoder", flag: "depths-decoder", kind: "ints", help: "decoder blocks per stage" },
  { key: "dState", flag: "d-state", kind: "int", help: "SSM state size" },
  { key: "imageSize", flag: "image-size", kind: "int", help: "input side (multiple of 32)" },
  { key: "numClasses", flag: "num-classes", kind: "int", help: "classes (1 = binary)" },
  { key: "inChannels", flag: "in-channels", kind: "int", help: "input channels 1 or 3" },
  { key: "epochs", flag: "epochs", kind: "int", help: "epochs" },
  { key: "batchSize", flag: "batch-size", kind: "int", help: "training batch size" },
  { key: "evalBatchSize", flag: "eval-batch-size", kind: "int", help: "validation batch size" },
  { key: "lr", flag: "lr", kind: "number", help: "AdamW learning rate" },
  { key: "betas", flag: "betas", kind: "pair", help: "AdamW betas, e.g. 0.9,0.999" },
  { key: "eps", flag: "eps", kind: "number", help: "AdamW eps" },
  { key: "weightDecay", flag: "weight-decay", kind: "number", help: "AdamW weight decay" },
  { key: "maxGradNorm", flag: "max-grad-norm", kind: "number", help: "clip grad norm (0 = off)" },
  { key: "tMax", flag: "t-max", kind: "int", help: "cosine schedule half period (epochs)" },
  { key: "etaMin", flag: "eta-min", kind: "number", help: "cosine schedule minimum lr" },
  { key: "lossWeights", flag: "loss-weights", kind: "pair", help: "BCE|CE and Dice weights" },
  { key: "dropPath", flag: "drop-path", kind: "number", help: "drop-path rate" },
  { key: "seed", flag: "seed", kind: "int", help: "seed" },
  {
    key: "selection",
    flag: "selection",
    kind: "string",
    help: `best checkpoint: official, ${SELECTIONS.join(", ")}`,
  },
  { key: "evalEvery", flag: "eval-every", kind: "int", help: "validate every N epochs" },
  { key: "logEvery", flag: "log-every", kind: "int", help: "read the loss every N steps" },
  { key: "pretrained", flag: "pretrained", kind: "string", help: "VMamba .pth to start from" },
  { key: "syntheticCount", flag: "synthetic-count", kind: "int", help: "synthetic train images" },
  {
    key: "syntheticValCount",
    flag: "synthetic-val-count",
    kind: "int",
    help: "synthetic validation images",
  },
  { key: "valFraction", flag: "val-fraction", kind: "number", help: "folder data: val fraction" },
  { key: "workers", flag: "workers", kind: "int", help: "data-loading workers (0 = main)" },
  {
    key: "officialRotation",
    flag: "official-rotation",
    kind: "bool",
    help: "reproduce the official fixed rotation angle",
  },
  { key: "softMasks", flag: "soft-masks", kind: "bool", help: "train on soft resized masks" },
  { key: "reportImages", flag: "report-images", kind: "int", help: "images in report.html" },
];

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

function parseValue(flag: SettingFlag, text: string | boolean): unknown {
  if (flag.kind === "bool") return text === true;
  const s = String(text);
  const num = (t: string) => {
    const v = Number(t);
    if (t.trim() === "" || !Number.isFinite(v)) {
      throw new UsageError(`--${flag.flag}: "${s}" is not a number`);
    }
    return v;
  };
  switch (flag.kind) {
    case "int": {
      const v = num(s);
      if (!Number.isInteger(v)) throw new UsageError(`--${flag.flag}: "${s}" is not an integer`);
      return v;
    }
    case "number":
      return num(s);
    case "ints":
    case "pair":
      return s.split(",").map(num);
    default:
      return s;
  }
}

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

type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string }>;

function settingOptions(filter?: (f: SettingFlag) => boolean): OptionSpec {
  const spec: OptionSpec = {};
  for (const f of SETTING_FLAGS) {
    if (!filter || filter(f)) spec[f.flag] = { type: f.kind === "bool" ? "boolean" : "string" };
  }
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

function collectSettings(
  values: Record<string, string | boolean | undefined>,
  filter?: (f: SettingFlag) => boolean,
): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const f of SETTING_FLAGS) {
    if (filter && !filter(f)) continue;
    const v = values[f.flag];
    if (v === undefined || (f.kind === "bool" && v === false)) continue;
    settings[f.key] = parseValue(f, v);
  }
  return settings;
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
    preset: { type: "string" },
    config: { type: "string" },
    name: { type: "string" },
    "runs-dir": { type: "string" },
    resume: { type: "boolean" },
    force: { type: "boolean" },
    help: { type: "boolean", short: "h" },
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
    checkpoint: { type: "string" },
    preset: { type: "string" },
    out: { type: "string" },
    split: { type: "string" },
    threshold: { type: "string" },
    help: { type: "boolean", short: "h" },
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
    checkpoint: { type: "string" },
    input: { type: "string" },
    out: { type: "string" },
    threshold: { type: "string" },
    help: { type: "boolean", short: "h" },
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

const META: Record<string, string> = {
  data: "DIR",
  dataset: "KIND",
  model: "NAME",
  pretrained: "FILE",
  selection: "RULE",
};

function flagTable(filter?: (f: SettingFlag) => boolean): string {
  return SETTING_FLAGS.filter((f) => !filter || filter(f)).map((f) => {
    const arg = f.kind === "bool"
      ? ""
      : f.kind === "ints"
      ? " A,B,C,D"
      : f.kind === "pair"
      ? " A,B"
      : ` ${META[f.flag] ?? (f.kind === "int" ? "N" : "X")}`;
    return `  --${(f.flag + arg).padEnd(25)}${f.help}`;
  }).join("\n");
}

/** The help text of each command. */
export function usage(command: "train" | "eval" | "predict" | "main"): string {
  const presets = Object.keys(TRAIN_PRESETS).join(" | ");
  switch (command) {
    case "train":
      return `deno task train [flags]

Trains VM-UNet. With no flags: a small model on the built-in synthetic dataset.

  --preset NAME              ${presets} (default synthetic)
  --config FILE.json         settings file (preset < file < flags)
  --name NAME                run folder name (default: preset-timestamp)
  --runs-dir DIR             where runs go (default runs)
  --resume                   continue the run in runs/<name>
  --force                    replace the run in runs/<name>
${flagTable()}`;
    case "eval":
      return `deno task eval --checkpoint FILE [--data DIR] [flags]

Evaluates a checkpoint (ours .safetensors or an official .pth) with the paper's metrics.

  --checkpoint FILE          weights to evaluate (required)
  --preset NAME              ${presets}: data and model defaults
  --split NAME               val (default) | train | all
  --threshold X              binary foreground threshold (default 0.5)
  --out DIR                  where eval.json and eval.md go (default: beside the checkpoint)
${flagTable(isEvalSetting)}`;
    case "predict":
      return `deno task predict --checkpoint FILE --input IMAGE|FOLDER|VOLUME.npy.h5 [--out DIR]

Writes mask PNGs (and .npy for volumes) and colour overlays.

  --checkpoint FILE          weights (required)
  --input PATH               image, folder of images or .npy.h5 volume (required)
  --out DIR                  output folder (default predictions)
  --threshold X              binary foreground threshold (default 0.5)
${flagTable(isPredictSetting)}`;
    default:
      return `usage: deno run -A apps/train/main.ts <train|eval|predict> [flags]
       (deno task train | deno task eval | deno task predict; --help for each)`;
  }
}
