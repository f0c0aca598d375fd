/**
 * The synthetic data of a run (the default `deno task train`): seeded lesion images for
 * training and, with the next seed, for validation. No file system: the web page trains on it
 * too.
 *
 * @module
 */

import { SyntheticDataset } from "@vmunet/datasets";
import type { TrainConfig } from "./train_config.ts";

/**
 * The training and validation sets of a synthetic run.
 *
 * @param config The run configuration (`syntheticCount`, `syntheticValCount`, `imageSize`,
 *   `seed`).
 * @returns Both datasets.
 */
export function syntheticData(
  config: TrainConfig,
): { train: SyntheticDataset; val: SyntheticDataset } {
  return {
    train: new SyntheticDataset({
      count: config.syntheticCount,
      size: config.imageSize,
      seed: config.seed,
    }),
    val: new SyntheticDataset({
      count: config.syntheticValCount,
      size: config.imageSize,
      seed: config.seed + 1,
    }),
  };
}
