/**
 * Loading a checkpoint dropped on the page: the bytes are parsed by the package (safetensors
 * or an official `.pth`), the architecture comes from the file (metadata, or inferred from the
 * keys as `deno task predict` does), and the weights are checked strictly — or loaded
 * non-strictly with the same report of missing, unexpected and mismatched keys as the CLI.
 *
 * @module
 */

import type { Engine } from "@vmunet/tensor";
import { describeReport, parseCheckpoint, VMUNet, type VMUNetConfig } from "@vmunet/vmunet";
import { checkWeightsFit, weightsOf } from "../../train/checkpoint_format.ts";
import { predictionSize, type TrainConfig } from "../../train/train_config.ts";

/** A model ready to segment, with what is known about it. */
export interface PageModel {
  /** The model. */
  model: VMUNet;
  /** Where it came from (file name, or `trained in this page`). */
  source: string;
  /** Its architecture. */
  config: VMUNetConfig;
  /**
   * The square input size to segment at: the size it was trained at when the file records it,
   * else the official VM-UNet size (as `deno task predict`, {@linkcode predictionSize}).
   */
  imageSize: number;
  /** Where {@linkcode imageSize} comes from, in one line. */
  sizeNote: string;
  /** The run configuration (our training checkpoints and page runs). */
  trainConfig?: TrainConfig;
  /** The epoch, when recorded. */
  epoch?: number;
  /** What was loaded: tensor count, and for non-strict loads every key that did not fit. */
  report: string;
}

/** Frees a model's parameters (a new model replaces it). */
export function disposeModel(model: VMUNet): void {
  for (const p of model.parameters.values()) p.dispose();
}

/**
 * Loads a checkpoint's bytes into a new model.
 *
 * @param engine The page's engine.
 * @param bytes The file's contents.
 * @param name The file name (named in every error).
 * @param strict Refuse any key that does not fit (as the CLI); otherwise load what fits.
 * @returns The model and its report.
 * @throws {CheckpointError} for a file that is not VM-UNet's or (strict) does not fit;
 *   safetensors, zip or pickle errors for a damaged file.
 */
export async function loadCheckpoint(
  engine: Engine,
  bytes: Uint8Array,
  name: string,
  strict: boolean,
): Promise<PageModel> {
  const loaded = weightsOf(await parseCheckpoint(bytes, name));
  const config: VMUNetConfig = { ...loaded.modelConfig, dropPathRate: 0 };
  if (!loaded.trainConfig) config.inChannels = 3; // images (as `deno task predict`)
  if (strict) checkWeightsFit(name, config, loaded.weights);
  const model = VMUNet.create(engine, config, { seed: 0 });
  const report = model.loadStateDict(loaded.weights, { strict, source: name });
  const problems = describeReport(report);
  const fitted = model.specs.length - report.missing.length - report.mismatched.length;
  const size = predictionSize(loaded.trainConfig, name);
  return {
    model,
    source: name,
    config,
    imageSize: size.size,
    sizeNote: size.note,
    trainConfig: loaded.trainConfig,
    epoch: loaded.epoch,
    report: `${loaded.file.format}: ${fitted} of ${model.specs.length} parameters loaded` +
      (problems ? ` (non-strict)\n${problems}` : ", every key fits"),
  };
}
