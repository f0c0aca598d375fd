/**
 * The checkpoint format of the train app, on bytes already parsed (no file system, so the web
 * page uses it too): the model configuration of a run, training checkpoints (one safetensors
 * file holding the weights under the official keys, the AdamW state under `optimizer.*`, and
 * the trainer state in the metadata), and weights for evaluation from our files or official
 * `.pth` files.
 *
 * @module
 */

import type { AdamW } from "@vmunet/tensor";
import type { TrainingState } from "@vmunet/vmunet/training";
import {
  decodeValues,
  type SafetensorsInput,
  serializeSafetensors,
} from "@vmunet/tensor/safetensors";
import {
  CheckpointError,
  type CheckpointFile,
  compareStateDict,
  configToMetadata,
  describeReport,
  parameterSpecs,
  preset,
  type SafetensorsEntry,
  type VMUNet,
  type VMUNetConfig,
} from "@vmunet/vmunet";
import type { TrainConfig } from "./train_config.ts";

/** Prefix of the optimizer tensors in a training checkpoint. */
export const OPTIMIZER_PREFIX = "optimizer.";

/** The model architecture of a training configuration. */
export function modelConfigOf(config: TrainConfig): VMUNetConfig {
  const overrides: Partial<VMUNetConfig> = {
    numClasses: config.numClasses,
    inChannels: config.inChannels,
    dropPathRate: config.dropPath,
  };
  if (config.dims !== undefined) overrides.dims = config.dims;
  if (config.depths !== undefined) overrides.depths = [...config.depths];
  if (config.depthsDecoder !== undefined) overrides.depthsDecoder = [...config.depthsDecoder];
  if (config.dState !== undefined) overrides.dState = config.dState;
  return preset(config.model, overrides);
}

/** Where a run stands, saved with every checkpoint so that `--resume` continues exactly. */
export type TrainState = TrainingState;

/** A training checkpoint read back. */
export interface TrainCheckpoint {
  /** The file. */
  path: string;
  /** The run's configuration. */
  config: TrainConfig;
  /** The trainer state. */
  state: TrainState;
  /** Model weights by official key. */
  weights: Map<string, SafetensorsEntry>;
  /** Optimizer tensors, keys without the prefix (`state.0.exp_avg`, …). */
  optimizer: Map<string, SafetensorsEntry>;
}

/**
 * Serialises a training checkpoint: weights (official keys), AdamW state
 * (`optimizer.state.<i>.*`), the run configuration and trainer state as metadata.
 *
 * @param model The model.
 * @param optimizer Its optimizer.
 * @param config The run configuration.
 * @param state The trainer state.
 * @returns The safetensors bytes (write them with `writeAtomic`).
 */
export async function serializeTrainCheckpoint(
  model: VMUNet,
  optimizer: AdamW,
  config: TrainConfig,
  state: TrainState,
): Promise<Uint8Array> {
  const tensors: Record<string, SafetensorsInput> = {};
  for (const [key, { shape, data }] of await model.stateDict()) {
    tensors[key] = { dtype: "F32", shape, data };
  }
  for (const [key, value] of Object.entries(await optimizer.stateDict())) {
    tensors[OPTIMIZER_PREFIX + key] = value;
  }
  const metadata = {
    ...configToMetadata(model.config),
    format: "vmunet-train-checkpoint",
    epoch: String(state.epoch),
    train_config: JSON.stringify(config),
    train_state: JSON.stringify(state),
  };
  return serializeSafetensors(tensors, metadata);
}

/** Splits checkpoint tensors into model weights and optimizer tensors (prefix removed). */
export function splitTensors(
  tensors: ReadonlyMap<string, SafetensorsEntry>,
): [Map<string, SafetensorsEntry>, Map<string, SafetensorsEntry>] {
  const weights = new Map<string, SafetensorsEntry>();
  const optimizer = new Map<string, SafetensorsEntry>();
  for (const [k, v] of tensors) {
    if (k.startsWith(OPTIMIZER_PREFIX)) optimizer.set(k.slice(OPTIMIZER_PREFIX.length), v);
    else weights.set(k, v);
  }
  return [weights, optimizer];
}

/** Weights for evaluation or prediction, with what is known about them. */
export interface LoadedWeights {
  /** The file read. */
  file: CheckpointFile;
  /** Model weights by official key (optimizer tensors removed). */
  weights: Map<string, SafetensorsEntry>;
  /** The architecture recorded in the file or inferred from its tensors. */
  modelConfig: VMUNetConfig;
  /** The run configuration, for our training checkpoints. */
  trainConfig?: TrainConfig;
  /** The epoch, for our training checkpoints. */
  epoch?: number;
}

function countBlocks(keys: readonly string[], prefix: string, stage: number): number {
  const re = new RegExp(`^${prefix.replace(/\./g, "\\.")}\\.${stage}\\.blocks\\.(\\d+)\\.`);
  let n = 0;
  for (const k of keys) {
    const m = re.exec(k);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/**
 * Infers the architecture from official state-dict keys and shapes (for `.pth` files, which
 * carry no configuration): widths from the patch embedding, depths from the block indices,
 * state size from `A_logs`, classes from the final conv.
 *
 * @param source The file name, for messages.
 * @param weights Tensors by key.
 * @returns The configuration.
 * @throws {CheckpointError} when the keys are not VM-UNet's.
 */
export function inferModelConfig(
  source: string,
  weights: ReadonlyMap<string, SafetensorsEntry>,
): VMUNetConfig {
  const need = (key: string) => {
    const t = weights.get(key);
    if (!t) {
      throw new CheckpointError(
        source,
        `not a VM-UNet checkpoint: key "${key}" is missing (found ${weights.size} tensors, e.g. ${
          [...weights.keys()].slice(0, 3).join(", ")
        })`,
      );
    }
    return t.shape;
  };
  const dims = need("vmunet.patch_embed.proj.weight")[0];
  const numClasses = need("vmunet.final_conv.weight")[0];
  const dState = need("vmunet.layers.0.blocks.0.self_attention.A_logs")[1];
  const keys = [...weights.keys()];
  const depths = [0, 1, 2, 3].map((i) => countBlocks(keys, "vmunet.layers", i));
  const depthsDecoder = [0, 1, 2, 3].map((i) => countBlocks(keys, "vmunet.layers_up", i));
  return preset("vmunet-s", { dims, numClasses, dState, depths, depthsDecoder, dropPathRate: 0 });
}

/**
 * The weights of a parsed checkpoint for evaluation or prediction: our training checkpoints
 * or weight files (configuration from the metadata), official `.pth` files (configuration
 * inferred from the keys). Works on bytes already read (the web page's dropped files too).
 *
 * @param file The parsed checkpoint.
 * @returns The weights and their configuration.
 * @throws {CheckpointError} for a file that is not VM-UNet's.
 */
export function weightsOf(file: CheckpointFile): LoadedWeights {
  const [weights] = splitTensors(file.tensors);
  const modelConfig = file.config ?? inferModelConfig(file.source, weights);
  const trainConfig = file.metadata.train_config
    ? JSON.parse(file.metadata.train_config) as TrainConfig
    : undefined;
  const epoch = file.metadata.epoch !== undefined ? Number(file.metadata.epoch) : undefined;
  return { file, weights, modelConfig, trainConfig, epoch };
}

/**
 * Checks that weights fit an architecture before anything is allocated.
 *
 * @param source The file name.
 * @param config The architecture the user asked for.
 * @param weights The checkpoint's weights.
 * @throws {CheckpointError} naming every missing, unexpected and mismatched key.
 */
export function checkWeightsFit(
  source: string,
  config: VMUNetConfig,
  weights: ReadonlyMap<string, SafetensorsEntry>,
): void {
  const report = compareStateDict(parameterSpecs(config), weights);
  if (report.missing.length || report.unexpected.length || report.mismatched.length) {
    throw new CheckpointError(
      source,
      `was saved for another model configuration:\n${describeReport(report)}`,
      report,
    );
  }
}

/**
 * Checks that every weight is finite: a checkpoint holding NaN or ±Inf (saved from a diverged
 * run) would predict silently wrong masks.
 *
 * @param source The file name.
 * @param weights The checkpoint's weights.
 * @throws {CheckpointError} naming the first tensor and flat index holding a non-finite value.
 */
export function checkWeightsFinite(
  source: string,
  weights: ReadonlyMap<string, SafetensorsEntry>,
): void {
  const bad: string[] = [];
  for (const [key, entry] of weights) {
    const values = decodeValues(entry);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        bad.push(`${key}[${i}] = ${values[i]}`);
        break;
      }
    }
  }
  if (bad.length > 0) {
    throw new CheckpointError(
      source,
      `holds non-finite weights (a diverged run?) in ${bad.length} tensor(s): ${
        bad.slice(0, 5).join(", ")
      }${bad.length > 5 ? ", …" : ""}; it cannot give meaningful predictions`,
    );
  }
}

/**
 * Restores the optimizer from a checkpoint's `optimizer.*` tensors.
 *
 * @param optimizer The optimizer (same parameter order as when saved).
 * @param tensors Optimizer tensors without the prefix.
 */
export function loadOptimizerState(
  optimizer: AdamW,
  tensors: ReadonlyMap<string, SafetensorsEntry>,
): void {
  const record: Record<string, { data: ArrayLike<number> }> = {};
  for (const [k, v] of tensors) {
    const bytes = v.bytes;
    const data = v.dtype === "F64"
      ? new Float64Array(bytes.slice().buffer)
      : new Float32Array(bytes.slice().buffer);
    record[k] = { data };
  }
  optimizer.loadState(record);
}
