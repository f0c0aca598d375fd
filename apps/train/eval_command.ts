/**
 * `deno task eval`: evaluates a checkpoint (ours, or an official `.pth`) on a dataset with the
 * paper's metrics — ISIC/binary: mIoU, DSC, Acc, Spe, Sen; Synapse: mean DSC, mean HD95 and
 * the eight organs — printed as markdown and written as `eval.json` + `eval.md`.
 *
 * @module
 */

import { Engine } from "@vmunet/tensor";
import { DataLoader } from "@vmunet/datasets";
import { SYNAPSE_CLASSES, type SynapseVolumes } from "@vmunet/datasets/fs";
import { VMUNet } from "@vmunet/vmunet";
import { evaluateVolumes } from "@vmunet/vmunet/fs";
import type { EvalArgs } from "./cli.ts";
import { detectDataKind, openEvalData } from "./data.ts";
import {
  binaryMarkdown,
  evaluateBatches,
  type Evaluation,
  evaluationRecord,
} from "@vmunet/vmunet/training";
import type { Io } from "./io.ts";
import { checkWeightsFit, loadWeightsFile, modelConfigOf } from "./model_io.ts";
import { ProgressWriter } from "./progress.ts";
import { writeAtomic } from "./run_dir.ts";
import { applySettings, resolveConfig, type TrainConfig, UsageError } from "./train_config.ts";

const ARCHITECTURE_KEYS = ["model", "dims", "depths", "depthsDecoder", "dState", "numClasses"];

/** What `eval` computed. */
export interface EvalResult {
  /** The evaluation. */
  evaluation: Evaluation;
  /** The JSON written to `eval.json`. */
  json: Record<string, unknown>;
  /** The markdown written to `eval.md`. */
  markdown: string;
  /** Where the files went. */
  outDir: string;
}

/**
 * Resolves the data and model settings of an evaluation: the checkpoint's own run
 * configuration (our checkpoints), else the preset, then flags.
 */
async function evalConfig(
  args: EvalArgs,
  trainConfig: TrainConfig | undefined,
  inferred: { numClasses: number },
): Promise<TrainConfig> {
  const settings = { ...args.settings };
  if (args.preset) {
    const base = resolveConfig(args.preset, { dataDir: settings.dataDir ?? "." });
    if (settings.dataDir === undefined) delete settings.dataDir;
    return applySettings(base, settings);
  }
  let base: TrainConfig;
  if (trainConfig && !(settings.dataDir !== undefined && settings.data === undefined)) {
    base = trainConfig;
  } else {
    // No run configuration (official .pth), or other data: start from a preset that fits.
    let kind = settings.data as string | undefined;
    if (kind === undefined && settings.dataDir !== undefined) {
      kind = await detectDataKind(String(settings.dataDir));
    }
    kind ??= trainConfig?.data ?? "synthetic";
    const presetName = kind === "synapse" ? "synapse" : kind === "isic" ? "isic18" : "synthetic";
    base = resolveConfig(presetName, {
      data: kind,
      dataDir: settings.dataDir ?? (kind === "synthetic" ? undefined : "."),
      numClasses: inferred.numClasses,
      inChannels: kind === "synapse" ? 1 : 3,
      ...(trainConfig && kind === "synthetic" ? { imageSize: trainConfig.imageSize } : {}),
    });
    settings.data = kind;
  }
  return applySettings(base, settings);
}

/**
 * Runs `eval`.
 *
 * @param args Parsed arguments.
 * @param io Output sink.
 * @returns The evaluation and where it was written.
 * @throws {UsageError} without `--checkpoint`; checkpoint and dataset errors naming the file.
 */
export async function runEval(args: EvalArgs, io: Io): Promise<EvalResult> {
  if (!args.checkpoint) throw new UsageError("eval: --checkpoint FILE is required");
  const loaded = await loadWeightsFile(args.checkpoint);
  const config = await evalConfig(args, loaded.trainConfig, {
    numClasses: loaded.modelConfig.numClasses,
  });
  // The architecture: the checkpoint's own unless flags or a preset name one.
  const explicit = args.preset !== undefined ||
    ARCHITECTURE_KEYS.some((k) => args.settings[k] !== undefined);
  const modelConfig = explicit
    ? modelConfigOf(config)
    : { ...loaded.modelConfig, inChannels: config.inChannels, dropPathRate: 0 };
  checkWeightsFit(args.checkpoint, modelConfig, loaded.weights);
  const data = await openEvalData(config, args.split ?? "val");
  const dataClasses = "read" in data ? SYNAPSE_CLASSES : data.numClasses;
  if (dataClasses !== modelConfig.numClasses) {
    throw new UsageError(
      `${args.checkpoint} predicts ${modelConfig.numClasses} class(es) but the ${config.data} data ` +
        `has ${dataClasses}${dataClasses === 1 ? " (binary masks)" : ""}: pass --data with a ` +
        `matching dataset (and --dataset or --preset)`,
    );
  }
  const outDir = args.out ??
    (args.checkpoint.includes("/")
      ? args.checkpoint.slice(0, args.checkpoint.lastIndexOf("/"))
      : ".");
  await Deno.mkdir(outDir, { recursive: true }).catch((e) => {
    throw new UsageError(`--out ${outDir}: cannot create (${(e as Error).message})`);
  });
  const engine = await Engine.create();
  const progress = new ProgressWriter({
    tty: io.tty,
    write: (t) => io.write(t),
    plainEvery: 1,
  });
  try {
    const model = VMUNet.create(engine, modelConfig, { seed: 0 });
    model.loadStateDict(loaded.weights, { source: args.checkpoint });
    const a = engine.gpu.adapterInfo;
    progress.line(
      `eval ${args.checkpoint} (${loaded.file.format}${
        loaded.epoch !== undefined ? `, epoch ${loaded.epoch}` : ""
      }) on ${config.data}${config.dataDir ? ` ${config.dataDir}` : ""} [${
        args.split ?? "val"
      }] · ${a.description || a.device}`,
    );
    const show = (done: number, total: number) =>
      progress.update({ label: "eval", step: done, total });
    let evaluation: Evaluation;
    if ("read" in data) {
      evaluation = await evaluateVolumes(model, data as SynapseVolumes, {
        size: config.imageSize,
        batchSize: config.evalBatchSize,
        numClasses: modelConfig.numClasses,
        examples: 0,
        onProgress: show,
      });
    } else {
      const loader = new DataLoader(data, {
        batchSize: config.evalBatchSize,
        shuffle: false,
        workers: 0,
      });
      evaluation = await evaluateBatches(model, loader.epoch(0), {
        numClasses: modelConfig.numClasses,
        total: data.length,
        lossWeights: config.lossWeights,
        threshold: args.threshold,
        examples: 0,
        onProgress: show,
      });
      await loader.close();
    }
    progress.done();
    const markdown = evaluation.kind === "binary"
      ? binaryMarkdown(evaluation.metrics, config.data)
      : evaluation.markdown;
    const json = {
      checkpoint: args.checkpoint,
      format: loaded.file.format,
      epoch: loaded.epoch ?? null,
      data: config.data,
      dataDir: config.dataDir ?? null,
      split: args.split ?? "val",
      imageSize: config.imageSize,
      threshold: args.threshold,
      ...evaluationRecord(evaluation),
    };
    await writeAtomic(`${outDir}/eval.json`, JSON.stringify(json, null, 2) + "\n");
    await writeAtomic(`${outDir}/eval.md`, markdown + "\n");
    io.write(markdown + "\n");
    progress.line(`wrote ${outDir}/eval.json and ${outDir}/eval.md`);
    return { evaluation, json, markdown, outDir };
  } finally {
    await engine.close();
  }
}
