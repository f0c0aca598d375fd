/**
 * The setting flags of the command line: one flag per training setting (`--batch-size 16` for
 * `batchSize`), how its text becomes the setting's value, and what its value is called in the
 * help.
 *
 * @module
 */

import { DATA_KINDS, SELECTIONS, UsageError } from "./train_config.ts";

/** `parseArgs` options by flag name. */
export type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string }>;

/** How a flag's text becomes a setting value. */
type Kind = "int" | "number" | "string" | "ints" | "pair" | "bool";

/** One setting flag. */
export interface SettingFlag {
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

/** The `parseArgs` options of the setting flags that pass `filter` (all by default). */
export function settingOptions(filter?: (f: SettingFlag) => boolean): OptionSpec {
  const spec: OptionSpec = {};
  for (const f of SETTING_FLAGS) {
    if (!filter || filter(f)) spec[f.flag] = { type: f.kind === "bool" ? "boolean" : "string" };
  }
  return spec;
}

/**
 * The settings given on the command line (those passing `filter`), parsed.
 *
 * @throws {UsageError} for a malformed value, naming the flag.
 */
export function collectSettings(
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

const META: Record<string, string> = {
  data: "DIR",
  dataset: "KIND",
  model: "NAME",
  pretrained: "FILE",
  selection: "RULE",
};

/** What a setting flag's value is called in the help (`N`, `A,B`, `DIR`), none for a switch. */
export function settingArg(f: SettingFlag): string | undefined {
  return f.kind === "bool"
    ? undefined
    : f.kind === "ints"
    ? "A,B,C,D"
    : f.kind === "pair"
    ? "A,B"
    : META[f.flag] ?? (f.kind === "int" ? "N" : "X");
}
