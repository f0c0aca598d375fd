/**
 * Models and checkpoints of the train app on disk: training checkpoints and weights read by
 * path; the format itself is {@link ./checkpoint_format.ts}.
 *
 * @module
 */

import {
  CheckpointError,
  compareStateDict,
  mapPretrainedVMamba,
  parameterSpecs,
  type VMUNetConfig,
} from "@vmunet/vmunet";
import { readCheckpoint } from "@vmunet/vmunet/fs";
import {
  type LoadedWeights,
  splitTensors,
  type TrainCheckpoint,
  weightsOf,
} from "./checkpoint_format.ts";

export * from "./checkpoint_format.ts";

/**
 * Reads a training checkpoint written by {@linkcode serializeTrainCheckpoint} (`checkpoint_format.ts`).
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

/**
 * Checks `--pretrained` before a run folder is made: the file is read, mapped onto the model
 * as `VMUNet.loadPretrainedVMamba` maps it (the official `load_from`), and refused when no key
 * maps or a mapped key has another shape.
 *
 * @param path The VMamba checkpoint.
 * @param config The run's architecture.
 * @throws {CheckpointError} naming the file: missing, unreadable, not VMamba's, or of another
 *   width.
 */
export async function checkPretrained(path: string, config: VMUNetConfig): Promise<void> {
  try {
    await Deno.stat(path);
  } catch {
    throw new CheckpointError(path, "--pretrained: file not found");
  }
  const file = await readCheckpoint(path);
  const specs = parameterSpecs(config);
  const mapping = mapPretrainedVMamba(file.tensors, specs);
  if (mapping.tensors.size === 0) {
    throw new CheckpointError(
      path,
      `--pretrained: none of its ${file.tensors.size} tensors maps onto VM-UNet (expected ` +
        `VMamba ImageNet weights such as vmamba_small_e238_ema.pth; found e.g. ${
          [...file.tensors.keys()].slice(0, 3).join(", ")
        })`,
    );
  }
  const report = compareStateDict(specs, mapping.tensors);
  if (report.mismatched.length > 0) {
    throw new CheckpointError(
      path,
      `--pretrained: its weights do not fit this configuration (${report.mismatched.length} shape mismatches, e.g. ${
        report.mismatched.slice(0, 3).map((m) => `${m.name} model [${m.expected}] file [${m.got}]`)
          .join(", ")
      })`,
      report,
    );
  }
}
