/**
 * Opens the datasets of a run from its configuration: the training set, the validation set
 * (binary data and label folders) or the test volumes (Synapse), with a checked data folder.
 *
 * @module
 */

import type { Dataset } from "@vmunet/datasets";
import {
  openFolder,
  openIsic,
  openSynapse,
  openSynapseVolumes,
  type SynapseVolumes,
} from "@vmunet/datasets/fs";
import type { DataKind, TrainConfig } from "./train_config.ts";
import { UsageError } from "./train_config.ts";
import { syntheticData } from "./synthetic_data.ts";

/** Raised when the data folder is missing or holds no known layout; names the folder. */
export class DataFolderError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "DataFolderError";
  }
}

/** Whether `path` is a folder (false when it does not exist). */
export async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Checks that the data folder exists.
 *
 * @param dir The folder given with `--data`.
 * @throws {DataFolderError} naming the folder when it is missing or not a folder.
 */
export async function checkDataFolder(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch {
    throw new DataFolderError(`--data ${dir}: folder not found`);
  }
  if (!info.isDirectory) throw new DataFolderError(`--data ${dir}: not a folder`);
}

/**
 * Guesses the dataset kind from a folder's layout: `train_npz/` or `test_vol_h5/` → synapse,
 * `train/images` or `val/images` → isic, `images/` + `masks/` → folder, ISIC release files →
 * isic.
 *
 * @param dir The data folder.
 * @returns The kind.
 * @throws {DataFolderError} when the folder is missing or no layout matches.
 */
export async function detectDataKind(dir: string): Promise<DataKind> {
  await checkDataFolder(dir);
  if (await isDir(`${dir}/train_npz`) || await isDir(`${dir}/test_vol_h5`)) return "synapse";
  if (await isDir(`${dir}/train/images`) || await isDir(`${dir}/val/images`)) return "isic";
  if (await isDir(`${dir}/images`) && await isDir(`${dir}/masks`)) return "folder";
  for await (const e of Deno.readDir(dir)) {
    if (/^ISIC_\d+\.(jpe?g|png)$/i.test(e.name)) return "isic";
  }
  throw new DataFolderError(
    `--data ${dir}: no known layout (expected train/{images,masks} + val/{images,masks} (ISIC), ` +
      `images/ + masks/ (folder of pairs) or train_npz/ + test_vol_h5/ (Synapse))`,
  );
}

/** The datasets of a run. */
export interface RunData {
  /** Training samples. */
  train: Dataset;
  /** Validation samples (binary or label data), null for Synapse. */
  val: Dataset | null;
  /** Synapse test volumes (evaluated every `evalEvery` epochs), else null. */
  volumes: SynapseVolumes | null;
}

function isicVersion(config: TrainConfig): "isic17" | "isic18" {
  return config.preset === "isic17" ? "isic17" : "isic18";
}

/**
 * Opens the validation data alone (for `eval`): the official test split of ISIC, the val part
 * of a folder, the Synapse test volumes, or the synthetic validation set.
 *
 * @param config The configuration (data kind, folder, size, seed).
 * @param split `val` (default), `train` or `all`.
 * @returns A dataset of samples, or the Synapse volumes.
 * @throws {DataFolderError} for a missing folder; dataset errors for a bad layout.
 */
export async function openEvalData(
  config: TrainConfig,
  split = "val",
): Promise<Dataset | SynapseVolumes> {
  if (!["val", "train", "all"].includes(split)) {
    throw new UsageError(`--split must be val, train or all, got "${split}"`);
  }
  if (config.data === "synthetic") {
    const { train, val } = syntheticData(config);
    return split === "train" ? train : val;
  }
  const root = config.dataDir!;
  await checkDataFolder(root);
  const size = config.imageSize;
  switch (config.data) {
    case "isic":
      return await openIsic({
        root,
        split: split as "train" | "val" | "all",
        size,
        augment: false,
        version: isicVersion(config),
        seed: config.seed,
      });
    case "folder":
      return await openFolder({
        root,
        split: split as "train" | "val" | "all",
        numClasses: config.numClasses,
        valFraction: config.valFraction,
        size,
        augment: false,
        seed: config.seed,
      });
    case "synapse":
      if (split === "train") {
        return await openSynapse({ root, size, augment: false, seed: config.seed });
      }
      return await openSynapseVolumes({ root });
  }
}

/**
 * Opens the training data and the validation data of a run.
 *
 * @param config The configuration.
 * @returns The datasets.
 * @throws {DataFolderError} for a missing folder; dataset errors for a bad layout.
 */
export async function openRunData(config: TrainConfig): Promise<RunData> {
  if (config.data === "synthetic") return { ...syntheticData(config), volumes: null };
  const root = config.dataDir!;
  await checkDataFolder(root);
  const size = config.imageSize;
  const common = {
    size,
    seed: config.seed,
    rotation: config.officialRotation ? "official" as const : "per-sample" as const,
    softMasks: config.softMasks,
  };
  switch (config.data) {
    case "isic":
      return {
        train: await openIsic({ root, split: "train", version: isicVersion(config), ...common }),
        val: await openIsic({
          root,
          split: "val",
          size,
          augment: false,
          version: isicVersion(config),
          seed: config.seed,
        }),
        volumes: null,
      };
    case "folder":
      return {
        train: await openFolder({
          root,
          split: "train",
          numClasses: config.numClasses,
          valFraction: config.valFraction,
          ...common,
        }),
        val: await openFolder({
          root,
          split: "val",
          numClasses: config.numClasses,
          valFraction: config.valFraction,
          size,
          augment: false,
          seed: config.seed,
        }),
        volumes: null,
      };
    case "synapse": {
      const train = await openSynapse({ root, size, seed: config.seed });
      const volumes = await isDir(`${root}/test_vol_h5`)
        ? await openSynapseVolumes({ root })
        : null;
      return { train, val: null, volumes };
    }
  }
}

/** One line describing a dataset for the run header. */
export function describeData(config: TrainConfig, data: RunData): string {
  const where = config.data === "synthetic"
    ? `synthetic lesions (seed ${config.seed})`
    : `${config.data} ${config.dataDir}`;
  const val = data.val
    ? `${data.val.length} validation images`
    : data.volumes
    ? `${data.volumes.length} test volumes`
    : "no validation data";
  return `${where}: ${data.train.length} training images ` +
    `${config.imageSize}×${config.imageSize}, ${val}`;
}
