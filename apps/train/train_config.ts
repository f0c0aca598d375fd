/**
 * The training configuration: every setting of a run, the paper's presets, and how flags
 * and a JSON config file override them (preset < config file < flags).
 *
 * @module
 */

import { ConfigError } from "@vmunet/vmunet";
import { modelConfigOf } from "./checkpoint_format.ts";

/** Raised for an unknown flag, preset or invalid value; the message lists the valid ones. */
export class UsageError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Which dataset a run reads. */
export type DataKind = "synthetic" | "isic" | "synapse" | "folder";

/** The dataset kinds, in the order shown to users. */
export const DATA_KINDS: readonly DataKind[] = ["synthetic", "isic", "synapse", "folder"];

import type { OptimizationSettings, Selection } from "@vmunet/vmunet/training";

export type { Selection };

/** The selection rules, in the order shown to users. */
export const SELECTIONS: readonly Selection[] = ["val-loss", "train-loss", "val-dice"];

/** Every setting of a training run. */
export interface TrainConfig extends OptimizationSettings {
  /** The preset this configuration started from. */
  preset: string;
  /** Model preset (`vmunet-s`, `vmunet-t`). */
  model: string;
  /** Stage width override (a number d means [d, 2d, 4d, 8d]); default: the model preset's. */
  dims?: number;
  /** Encoder depths override; default: the model preset's. */
  depths?: number[];
  /** Decoder depths override; default: the model preset's. */
  depthsDecoder?: number[];
  /** SSM state size override; default: the model preset's. */
  dState?: number;
  /** Dataset kind. */
  data: DataKind;
  /** Dataset root folder (not needed for synthetic data). */
  dataDir?: string;
  /** Square input size fed to the model (multiple of 32). */
  imageSize: number;
  /** Output classes (1 = binary with sigmoid). */
  numClasses: number;
  /** Input channels of the data (1 is repeated to 3 by the model). */
  inChannels: number;
  /** Epochs. */
  epochs: number;
  /** Batch size. */
  batchSize: number;
  /** Validation / evaluation batch size. */
  evalBatchSize: number;
  /** Loss weights: [BCE or CE, Dice]. */
  lossWeights: [number, number];
  /** Drop-path rate. */
  dropPath: number;
  /** Seed for initialisation, shuffling, augmentation and drop path. */
  seed: number;
  /** Checkpoint selection rule. */
  selection: Selection;
  /** Validate every this many epochs (and after the last one). */
  evalEvery: number;
  /** Read the loss back every this many steps (each readback costs a GPU sync). */
  logEvery: number;
  /** Official VMamba ImageNet weights to start from (`vmamba_small_e238_ema.pth`). */
  pretrained?: string;
  /** Number of synthetic training images (synthetic data only). */
  syntheticCount: number;
  /** Number of synthetic validation images (synthetic data only). */
  syntheticValCount: number;
  /** Validation fraction of the seeded split of a folder dataset. */
  valFraction: number;
  /** Data-loading workers (0 = main thread). */
  workers: number;
  /** Reproduce the official fixed-angle rotation bug (docs/spec.md §11). */
  officialRotation: boolean;
  /** Train on the official soft (bilinearly resized) masks instead of binarised ones. */
  softMasks: boolean;
  /** Validation images shown in report.html. */
  reportImages: number;
}

const BASE: Omit<TrainConfig, "preset"> = {
  model: "vmunet-s",
  data: "isic",
  imageSize: 256,
  numClasses: 1,
  inChannels: 3,
  epochs: 300,
  batchSize: 32,
  evalBatchSize: 8,
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 1e-2,
  maxGradNorm: 0,
  tMax: 50,
  etaMin: 1e-5,
  lossWeights: [1, 1],
  dropPath: 0.2,
  seed: 42,
  selection: "val-loss",
  evalEvery: 1,
  logEvery: 10,
  syntheticCount: 512,
  syntheticValCount: 128,
  valFraction: 0.2,
  workers: 2,
  officialRotation: false,
  softMasks: false,
  reportImages: 8,
};

/**
 * The paper's settings per dataset (docs/spec.md §8) and the synthetic default of
 * `deno task train`.
 */
export const TRAIN_PRESETS: Readonly<Record<string, Readonly<Omit<TrainConfig, "preset">>>> = {
  synthetic: {
    ...BASE,
    model: "vmunet-t",
    dims: 32,
    depths: [1, 1, 1, 1],
    depthsDecoder: [1, 1, 1, 1],
    data: "synthetic",
    imageSize: 32,
    epochs: 8,
    batchSize: 8,
    evalBatchSize: 32,
    lr: 5e-3,
    maxGradNorm: 1,
    tMax: 8,
    etaMin: 5e-5,
    dropPath: 0,
    selection: "val-dice",
    evalEvery: 1,
    logEvery: 8,
    syntheticCount: 1024,
    syntheticValCount: 128,
    workers: 1,
  },
  isic17: { ...BASE },
  isic18: { ...BASE },
  synapse: {
    ...BASE,
    data: "synapse",
    imageSize: 224,
    numClasses: 9,
    inChannels: 1,
    tMax: 100,
    selection: "train-loss",
    evalEvery: 100,
    evalBatchSize: 16,
  },
};

/** The square input side a checkpoint predicts at, and where it comes from. */
export interface PredictionSize {
  /** The input side (a multiple of 32). */
  size: number;
  /**
   * `checkpoint`: the size its training run used (our training checkpoints record their
   * configuration); `official`: the file records none (an official `.pth`, a weights-only
   * safetensors file), so the official VM-UNet configuration's size.
   */
  source: "checkpoint" | "official";
  /** One line for the user: the size and why. */
  note: string;
}

/**
 * The input size to predict at when none is given (`--image-size` and the page's field win
 * over it): the size the checkpoint was trained at when it records it, otherwise the official
 * VM-UNet size — 256×256 for ISIC images (`isic17`/`isic18` presets), 224×224 for Synapse
 * slices (`synapse` preset). `deno task predict` and the web page both take it from here.
 *
 * @param trainConfig The run configuration the checkpoint records, if any.
 * @param name The checkpoint's file name, for the note.
 * @param volumes Whether the inputs are Synapse volumes (default: images).
 * @returns The size, its source and a note.
 * @example
 * ```ts
 * import { predictionSize, resolveConfig } from "./train_config.ts";
 * if (predictionSize(undefined, "best.pth").size !== 256) throw new Error("ISIC images: 256");
 * if (predictionSize(undefined, "best.pth", true).size !== 224) throw new Error("Synapse: 224");
 * const run = resolveConfig("synthetic", { imageSize: 64 });
 * if (predictionSize(run, "best.safetensors").size !== 64) throw new Error("recorded size");
 * ```
 */
export function predictionSize(
  trainConfig: TrainConfig | undefined,
  name: string,
  volumes = false,
): PredictionSize {
  if (trainConfig) {
    const size = trainConfig.imageSize;
    return {
      size,
      source: "checkpoint",
      note: `input size ${size}×${size}: the size ${name} was trained at`,
    };
  }
  const size = TRAIN_PRESETS[volumes ? "synapse" : "isic17"].imageSize;
  return {
    size,
    source: "official",
    note: `input size ${size}×${size}: the official VM-UNet size for ${
      volumes ? "Synapse slices" : "ISIC images"
    } (${name} records no training size)`,
  };
}

/** The settings a user may set (every key of {@linkcode TrainConfig} but `preset`). */
export const SETTING_KEYS: readonly string[] = [
  ...new Set([
    ...Object.keys(BASE),
    ...Object.keys(TRAIN_PRESETS.synthetic),
    "dataDir",
    "pretrained",
    "dims",
    "depths",
    "depthsDecoder",
    "dState",
  ]),
].sort();

const INTEGER: (keyof TrainConfig)[] = [
  "imageSize",
  "numClasses",
  "inChannels",
  "epochs",
  "batchSize",
  "evalBatchSize",
  "tMax",
  "seed",
  "evalEvery",
  "logEvery",
  "syntheticCount",
  "syntheticValCount",
  "workers",
  "reportImages",
];

/** Upper bounds of the integer settings: beyond them a value is a typo, not a plan. */
const INTEGER_MAX: Partial<Record<keyof TrainConfig, number>> = {
  imageSize: 8192,
  numClasses: 256,
  epochs: 100_000,
  batchSize: 65_536,
  evalBatchSize: 65_536,
  tMax: 100_000,
  seed: 2 ** 32 - 1,
  evalEvery: 100_000,
  logEvery: 1_000_000,
  syntheticCount: 10_000_000,
  syntheticValCount: 10_000_000,
  workers: 256,
  reportImages: 1_000,
};

const NUMBER: (keyof TrainConfig)[] = [
  "lr",
  "eps",
  "weightDecay",
  "maxGradNorm",
  "etaMin",
  "dropPath",
  "valFraction",
];

/**
 * Builds a configuration from a preset, then a JSON object (a config file's contents), then
 * flag overrides, and validates the result.
 *
 * @param presetName `synthetic`, `isic17`, `isic18` or `synapse`.
 * @param layers Overrides applied in order.
 * @returns The effective configuration.
 * @throws {UsageError} naming the preset, key or value at fault.
 */
export function resolveConfig(
  presetName: string,
  ...layers: Record<string, unknown>[]
): TrainConfig {
  const base = TRAIN_PRESETS[presetName];
  if (!base) {
    throw new UsageError(
      `unknown preset "${presetName}"; valid presets: ${Object.keys(TRAIN_PRESETS).join(", ")}`,
    );
  }
  const config = { preset: presetName, ...structuredClone(base) } as TrainConfig;
  return applySettings(config, ...layers);
}

/**
 * Applies override layers to a configuration and validates the result.
 *
 * @param config The starting configuration (not modified).
 * @param layers Overrides applied in order (`undefined` values are skipped).
 * @returns The new configuration.
 * @throws {UsageError} for an unknown key (the valid ones are listed) or an invalid value.
 */
export function applySettings(
  config: TrainConfig,
  ...layers: Record<string, unknown>[]
): TrainConfig {
  const out = structuredClone(config) as unknown as Record<string, unknown>;
  const keys = new Set([...SETTING_KEYS, "preset"]);
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      if (!keys.has(key)) {
        throw new UsageError(
          `unknown setting "${key}"; valid settings: ${SETTING_KEYS.join(", ")}`,
        );
      }
      out[key] = value;
    }
  }
  if (out.selection === "official") {
    out.selection = out.data === "synapse" ? "train-loss" : "val-loss";
  }
  return validateTrainConfig(out as unknown as TrainConfig);
}

function isIntList(v: unknown, length: number): v is number[] {
  return Array.isArray(v) && v.length === length &&
    v.every((x) => Number.isInteger(x) && x > 0);
}

/**
 * Checks every field's type and range.
 *
 * @param config The configuration.
 * @returns The same configuration.
 * @throws {UsageError} naming the setting at fault.
 */
export function validateTrainConfig(config: TrainConfig): TrainConfig {
  for (const key of INTEGER) {
    const v = config[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw new UsageError(`"${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    const max = INTEGER_MAX[key];
    if (max !== undefined && v > max) {
      throw new UsageError(`"${key}" must be at most ${max.toLocaleString("en-US")}, got ${v}`);
    }
  }
  for (const key of NUMBER) {
    const v = config[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new UsageError(`"${key}" must be a non-negative number, got ${JSON.stringify(v)}`);
    }
  }
  const positive: (keyof TrainConfig)[] = [
    "imageSize",
    "epochs",
    "batchSize",
    "evalBatchSize",
    "lr",
    "tMax",
    "evalEvery",
    "logEvery",
    "numClasses",
    "syntheticCount",
    "syntheticValCount",
  ];
  for (const key of positive) {
    if (!((config[key] as number) > 0)) {
      throw new UsageError(`"${key}" must be > 0, got ${config[key]}`);
    }
  }
  if (config.imageSize % 32 !== 0) {
    throw new UsageError(`"imageSize" must be a multiple of 32 (VM-UNet), got ${config.imageSize}`);
  }
  if (config.inChannels !== 1 && config.inChannels !== 3) {
    throw new UsageError(`"inChannels" must be 1 or 3, got ${config.inChannels}`);
  }
  if (!DATA_KINDS.includes(config.data)) {
    throw new UsageError(
      `"data" must be one of ${DATA_KINDS.join(", ")}, got ${JSON.stringify(config.data)}`,
    );
  }
  if (config.data !== "synthetic" && !config.dataDir) {
    throw new UsageError(`${config.data} data needs --data DIR (the dataset folder)`);
  }
  if (!SELECTIONS.includes(config.selection)) {
    throw new UsageError(
      `"selection" must be one of official, ${SELECTIONS.join(", ")}, got ${
        JSON.stringify(config.selection)
      }`,
    );
  }
  if (config.etaMin > config.lr) {
    throw new UsageError(
      `"etaMin" (${config.etaMin}) is above "lr" (${config.lr}): the cosine schedule would ` +
        `raise the learning rate; give --eta-min at most --lr`,
    );
  }
  if (!(config.dropPath < 1)) throw new UsageError(`"dropPath" must be in [0, 1)`);
  if (!(config.valFraction < 1)) throw new UsageError(`"valFraction" must be in [0, 1)`);
  const pair = (key: "betas" | "lossWeights", max: number) => {
    const v = config[key] as unknown;
    if (
      !Array.isArray(v) || v.length !== 2 ||
      !v.every((x) => typeof x === "number" && x >= 0 && x < max)
    ) {
      throw new UsageError(`"${key}" must be two numbers in [0, ${max}), got ${JSON.stringify(v)}`);
    }
  };
  pair("betas", 1);
  pair("lossWeights", Infinity);
  if (config.dims !== undefined && !(Number.isInteger(config.dims) && config.dims > 0)) {
    throw new UsageError(`"dims" must be a positive integer, got ${JSON.stringify(config.dims)}`);
  }
  if (config.dState !== undefined && !(Number.isInteger(config.dState) && config.dState > 0)) {
    throw new UsageError(
      `"dState" must be a positive integer, got ${JSON.stringify(config.dState)}`,
    );
  }
  for (const key of ["depths", "depthsDecoder"] as const) {
    if (config[key] !== undefined && !isIntList(config[key], 4)) {
      throw new UsageError(
        `"${key}" must be 4 positive integers, got ${JSON.stringify(config[key])}`,
      );
    }
  }
  for (const key of ["officialRotation", "softMasks"] as const) {
    if (typeof config[key] !== "boolean") {
      throw new UsageError(`"${key}" must be true or false, got ${JSON.stringify(config[key])}`);
    }
  }
  if (config.data === "synapse" && config.numClasses < 2) {
    throw new UsageError(`synapse data needs numClasses ≥ 2 (9 organs + background)`);
  }
  try {
    modelConfigOf(config);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
  return config;
}

/** A value a tenth of `x`, printed with at most 3 significant digits (`5e-4`, `0.1`). */
function tenth(x: number): string {
  return String(Number((x / 10).toPrecision(3)));
}

/**
 * What to do after a run's loss became NaN or infinite, limited to what can work: `--resume`
 * only when a checkpoint exists (and only with a change, since a resumed run repeats the same
 * steps bit for bit and only `maxGradNorm` may change when resuming); `--max-grad-norm 1`
 * only when clipping is off or looser; otherwise a smaller clip or a lower `--lr` from the
 * start.
 *
 * @param config The run's configuration.
 * @param hasCheckpoint Whether the run folder holds a checkpoint to resume from.
 * @param name The run's name (`--name`).
 * @returns One sentence of advice.
 * @example
 * ```ts
 * import { divergenceAdvice, resolveConfig } from "./train_config.ts";
 * const advice = divergenceAdvice(resolveConfig("synthetic"), false, "x");
 * if (advice.includes("--resume") || !advice.includes("--lr 0.0005")) throw new Error(advice);
 * ```
 */
export function divergenceAdvice(
  config: TrainConfig,
  hasCheckpoint: boolean,
  name: string,
): string {
  const clip = config.maxGradNorm;
  const tighter = clip > 0 && clip <= 1 ? tenth(clip) : "1";
  const clipNote = clip > 0 ? ` (now ${clip})` : " (clipping is off now)";
  const lower = `--lr ${tenth(config.lr)}`;
  if (!hasCheckpoint) {
    return `Start again with a lower learning rate (the same command starts the run over), ` +
      `e.g. ${lower}${clip > 0 && clip <= 1 ? "" : ", or with --max-grad-norm 1"}.`;
  }
  return `Resuming unchanged would repeat the same steps; continue it with --resume --name ` +
    `${name} --max-grad-norm ${tighter}${clipNote}, or start again with a lower learning ` +
    `rate (${lower} --force).`;
}
