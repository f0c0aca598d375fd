/**
 * The training configuration: every setting of a run, the paper's presets, and how flags
 * and a JSON config file override them (preset < config file < flags).
 *
 * @module
 */

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

/** How the checkpoint `best` is chosen. */
export type Selection = "val-loss" | "train-loss" | "val-dice";

/** Every setting of a training run. */
export interface TrainConfig {
  /** The preset this configuration started from. */
  preset: string;
  /** Model preset (`vmunet-s`, `vmunet-t`). */
  model: string;
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
  /** AdamW learning rate. */
  lr: number;
  /** AdamW betas. */
  betas: [number, number];
  /** AdamW eps. */
  eps: number;
  /** AdamW decoupled weight decay (applied to all parameters, as the official config). */
  weightDecay: number;
  /** CosineAnnealingLR period (PyTorch's chained, periodic form). */
  tMax: number;
  /** CosineAnnealingLR minimum. */
  etaMin: number;
  /** Loss weights: [BCE or CE, Dice]. */
  lossWeights: [number, number];
  /** Drop-path rate. */
  dropPath: number;
  /** Seed for initialisation, shuffling, augmentation and drop path. */
  seed: number;
  /** Checkpoint selection rule. */
  selection: Selection;
  /** Evaluate the full metrics every this many epochs (and at the end). */
  evalEvery: number;
  /** Read the loss back every this many steps (each readback costs a GPU sync). */
  logEvery: number;
  /** Official VMamba ImageNet weights to start from (`vmamba_small_e238_ema.pth`). */
  pretrained?: string;
  /** Number of synthetic training images (synthetic data only). */
  syntheticCount: number;
  /** Data-loading workers (0 = main thread). */
  workers: number;
  /** Reproduce the official fixed-angle rotation bug (SPEC §4). */
  officialRotation: boolean;
}

const BASE: Omit<TrainConfig, "preset"> = {
  model: "vmunet-s",
  data: "isic",
  imageSize: 256,
  numClasses: 1,
  inChannels: 3,
  epochs: 300,
  batchSize: 32,
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 1e-2,
  tMax: 50,
  etaMin: 1e-5,
  lossWeights: [1, 1],
  dropPath: 0.2,
  seed: 42,
  selection: "val-loss",
  evalEvery: 30,
  logEvery: 10,
  syntheticCount: 512,
  workers: 2,
  officialRotation: false,
};

/** The paper's settings per dataset (SPEC §4) and the synthetic default of `deno task train`. */
export const TRAIN_PRESETS: Readonly<Record<string, Readonly<Omit<TrainConfig, "preset">>>> = {
  synthetic: {
    ...BASE,
    model: "vmunet-t",
    data: "synthetic",
    imageSize: 64,
    epochs: 8,
    batchSize: 8,
    lr: 2e-3,
    tMax: 8,
    dropPath: 0,
    selection: "val-dice",
    evalEvery: 1,
    syntheticCount: 384,
    workers: 0,
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
  },
};

const NUMERIC: (keyof TrainConfig)[] = [
  "imageSize",
  "numClasses",
  "inChannels",
  "epochs",
  "batchSize",
  "lr",
  "eps",
  "weightDecay",
  "tMax",
  "etaMin",
  "dropPath",
  "seed",
  "evalEvery",
  "logEvery",
  "syntheticCount",
  "workers",
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
  const config: TrainConfig = { preset: presetName, ...structuredClone(base) } as TrainConfig;
  const keys = new Set(Object.keys(config).concat(["dataDir", "pretrained"]));
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      if (!keys.has(key)) {
        throw new UsageError(
          `unknown setting "${key}"; valid settings: ${[...keys].sort().join(", ")}`,
        );
      }
      (config as unknown as Record<string, unknown>)[key] = value;
    }
  }
  return validateTrainConfig(config);
}

/** Checks every field's type and range. */
export function validateTrainConfig(config: TrainConfig): TrainConfig {
  for (const key of NUMERIC) {
    const v = config[key];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new UsageError(`"${key}" must be a number, got ${JSON.stringify(v)}`);
    }
  }
  const positive: (keyof TrainConfig)[] = ["imageSize", "epochs", "batchSize", "lr", "tMax"];
  for (const key of positive) {
    if (!((config[key] as number) > 0)) throw new UsageError(`"${key}" must be > 0`);
  }
  if (config.imageSize % 32 !== 0) {
    throw new UsageError(`"imageSize" must be a multiple of 32 (VM-UNet), got ${config.imageSize}`);
  }
  if (!["synthetic", "isic", "synapse", "folder"].includes(config.data)) {
    throw new UsageError(`"data" must be synthetic, isic, synapse or folder, got "${config.data}"`);
  }
  if (config.data !== "synthetic" && !config.dataDir) {
    throw new UsageError(`"${config.data}" data needs --data DIR (the dataset folder)`);
  }
  if (!["val-loss", "train-loss", "val-dice"].includes(config.selection)) {
    throw new UsageError(
      `"selection" must be val-loss, train-loss or val-dice, got "${config.selection}"`,
    );
  }
  if (!(config.dropPath >= 0 && config.dropPath < 1)) {
    throw new UsageError(`"dropPath" must be in [0, 1)`);
  }
  return config;
}
