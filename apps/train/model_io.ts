/**
 * Models and checkpoints of the train app on disk: training checkpoints and weights read by
 * path; the format itself is {@link ./checkpoint_format.ts}.
 *
 * @module
 */

import { CheckpointError } from "@vmunet/vmunet";
import { readCheckpoint } from "@vmunet/vmunet/fs";
import {
  type LoadedWeights,
  splitTensors,
  type TrainCheckpoint,
  weightsOf,
} from "./checkpoint_format.ts";

export * from "./checkpoint_format.ts";

/**
 * Reads a training checkpoint written by {@linkcode saveTrainCheckpoint}.
 *
 * @param path The file.
 * @returns Configuration, state, weights and optimizer tensors.
 * @throws {CheckpointError} when the file is not a training checkpoint.
 */
export async function readTrainCheckpoint(path: string): Promise<TrainCheckpoint> {
  const file = await readCheckpoint(path);
  if (file.metadata.format !== "vmunet-train-checkpoint") {
    throw new CheckpointError(path, "not a training checkpoint of this app (no train_state)");
  }
  const [weights, optimizer] = splitTensors(file.tensors);
  return {
    path,
    config: JSON.parse(file.metadata.train_config),
    state: JSON.parse(file.metadata.train_state),
    weights,
    optimizer,
  };
}

/**
 * Reads weights for evaluation from a file (see {@linkcode weightsOf}).
 *
 * @param path The checkpoint.
 * @returns The weights and their configuration.
 * @throws {CheckpointError} for an unreadable file or one that is not VM-UNet's.
 */
export async function loadWeightsFile(path: string): Promise<LoadedWeights> {
  try {
    await Deno.stat(path);
  } catch {
    throw new CheckpointError(path, "file not found");
  }
  return weightsOf(await readCheckpoint(path));
}
