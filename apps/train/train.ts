/**
 * `deno task train`: the training loop of VM-UNet with the official protocol (AdamW, periodic
 * cosine schedule stepped per epoch, BceDice / CeDice, model selection), run folders that
 * lose nothing (atomic checkpoints, bit-for-bit `--resume`, Ctrl-C saves), live progress and
 * a report.
 *
 * @module
 */

import { type AdamW, type CosineAnnealingLR, Engine } from "@vmunet/tensor";
import { DataLoader } from "@vmunet/datasets";
import { VMUNet } from "@vmunet/vmunet";
import { evaluateVolumes, readCheckpoint } from "@vmunet/vmunet/fs";
import {
  type CheckpointRequest,
  createOptimization,
  type EpochSummary,
  evaluateBatches,
  type Evaluation,
  evaluationLine,
  evaluationRecord,
  NonFiniteLossError,
  type StepInfo,
  type StepProgress,
  TrainingDataError,
  TrainingLoop,
  type ValidationOutcome,
} from "@vmunet/vmunet/training";
import type { TrainArgs } from "./cli.ts";
import { describeData, detectDataKind, openRunData, type RunData } from "./data.ts";
import type { Io } from "./io.ts";
import {
  checkPretrained,
  loadOptimizerState,
  modelConfigOf,
  readTrainCheckpoint,
  serializeTrainCheckpoint,
  type TrainState,
} from "./model_io.ts";
import { formatDuration, ProgressWriter } from "./progress.ts";
import { renderReport, type ReportExample, type Series } from "./report.ts";
import { appendJsonl, prepareRunDir, readJsonl, RunDirError, writeAtomic } from "./run_dir.ts";
import {
  applySettings,
  divergenceAdvice,
  resolveConfig,
  TRAIN_PRESETS,
  type TrainConfig,
  UsageError,
} from "./train_config.ts";

export { NonFiniteLossError } from "@vmunet/vmunet/training";
export type { StepInfo, StepModel } from "@vmunet/vmunet/training";

/** Exit code of a run stopped by a NaN or infinite loss. */
export const EXIT_NON_FINITE = 3;
/** Exit code of a run interrupted by Ctrl-C (after saving). */
export const EXIT_INTERRUPTED = 130;

/** Options of {@linkcode runTrain} beyond the command line. */
export interface TrainRunOptions {
  /** Aborting it stops after the current step, saving a checkpoint (Ctrl-C). */
  signal?: AbortSignal;
  /** Called after each step (tests: interrupt or corrupt at a given step). */
  afterStep?: (info: StepInfo) => void;
}

/** What a run returns. */
export interface TrainResult {
  /** Process exit code (0 done, 3 non-finite loss, 130 interrupted). */
  code: number;
  /** The run folder. */
  runDir: string;
  /** The best evaluation's Dice, if any evaluation ran. */
  bestDice?: number;
}

/** Settings that may change when resuming (they do not change the computation). */
const RESUMABLE = new Set([
  "epochs",
  "workers",
  "logEvery",
  "evalEvery",
  "reportImages",
  "maxGradNorm",
]);

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${
    p(d.getMinutes())
  }${p(d.getSeconds())}`;
}

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(`--config ${path}: cannot read (${(error as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--config ${path}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`--config ${path}: must hold a JSON object of settings`);
  }
  return value as Record<string, unknown>;
}

async function latestRun(runsDir: string): Promise<string> {
  let best: { dir: string; time: number } | null = null;
  try {
    for await (const e of Deno.readDir(runsDir)) {
      if (!e.isDirectory) continue;
      const dir = `${runsDir}/${e.name}`;
      try {
        const info = await Deno.stat(`${dir}/last.safetensors`);
        const time = info.mtime?.getTime() ?? 0;
        if (!best || time > best.time) best = { dir, time };
      } catch {
        // not a run with a checkpoint
      }
    }
  } catch {
    // no runs folder
  }
  if (!best) throw new RunDirError(`--resume: no run with a checkpoint in ${runsDir}/`);
  return best.dir;
}

/**
 * Resolves the effective configuration and the run folder of a `train` invocation.
 *
 * @param args Parsed arguments.
 * @returns The configuration and folder.
 * @throws {UsageError} for bad settings, {@linkcode RunDirError} for a bad resume target.
 */
export async function resolveTrainInvocation(
  args: TrainArgs,
): Promise<{ config: TrainConfig; runDir: string }> {
  if (args.resume) {
    const runDir = args.name ? `${args.runsDir}/${args.name}` : await latestRun(args.runsDir);
    let saved: TrainConfig;
    try {
      saved = JSON.parse(await Deno.readTextFile(`${runDir}/config.json`));
    } catch {
      throw new RunDirError(`--resume: ${runDir} holds no run (no readable config.json)`);
    }
    const file = args.configFile ? await readConfigFile(args.configFile) : {};
    const changes = { ...file, ...args.settings };
    for (const [key, value] of Object.entries(changes)) {
      const before = (saved as unknown as Record<string, unknown>)[key];
      if (!RESUMABLE.has(key) && JSON.stringify(before) !== JSON.stringify(value)) {
        throw new UsageError(
          `--resume: "${key}" cannot change when resuming (run has ${
            JSON.stringify(before)
          }, asked ${JSON.stringify(value)}); only ${[...RESUMABLE].join(", ")} may`,
        );
      }
    }
    return { config: applySettings(saved, changes), runDir };
  }
  const file = args.configFile ? await readConfigFile(args.configFile) : {};
  const presetName = args.preset ?? (typeof file.preset === "string" ? file.preset : "synthetic");
  const { preset: _ignored, ...fileSettings } = file;
  const settings = { ...fileSettings, ...args.settings };
  const base = TRAIN_PRESETS[presetName];
  if (
    base && base.data === "synthetic" && settings.dataDir !== undefined &&
    settings.data === undefined
  ) {
    settings.data = await detectDataKind(String(settings.dataDir));
  }
  const config = resolveConfig(presetName, settings);
  const name = args.name ?? `${presetName}-${timestamp()}`;
  if (name.includes("/") || name.includes("\\") || name === "." || name === "..") {
    throw new UsageError(`--name "${name}" must be a plain folder name`);
  }
  return { config, runDir: `${args.runsDir}/${name}` };
}

function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

function adapterLine(engine: Engine): string {
  const a = engine.gpu.adapterInfo;
  const name = a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(" ");
  return `${name || "unknown adapter"}${a.isFallbackAdapter ? " (software adapter)" : ""}`;
}

interface EvalOutcome {
  evaluation: Evaluation;
  seconds: number;
}

class Trainer {
  readonly config: TrainConfig;
  readonly runDir: string;
  readonly io: Io;
  readonly options: TrainRunOptions;
  readonly progress: ProgressWriter;
  engine!: Engine;
  model!: VMUNet;
  optimizer!: AdamW;
  scheduler!: CosineAnnealingLR;
  data!: RunData;
  loader!: DataLoader;
  valLoader: DataLoader | null = null;
  state!: TrainState;
  loop: TrainingLoop | null = null;
  records: Record<string, unknown>[] = [];
  /** When the plain (non-terminal) progress line was last written, and in which epoch. */
  lastPlain = { epoch: -1, time: 0 };

  constructor(config: TrainConfig, runDir: string, io: Io, options: TrainRunOptions) {
    this.config = config;
    this.runDir = runDir;
    this.io = io;
    this.options = options;
    this.progress = new ProgressWriter({
      tty: io.tty,
      write: (t) => io.write(t),
      plainEvery: 1,
    });
  }

  line(text: string): void {
    this.progress.line(text);
  }

  get lastPath(): string {
    return `${this.runDir}/last.safetensors`;
  }

  get bestPath(): string {
    return `${this.runDir}/best.safetensors`;
  }

  get runName(): string {
    return this.runDir.split("/").pop()!;
  }

  epochLabel(epoch: number): string {
    const c = this.config;
    return `epoch ${String(epoch).padStart(String(c.epochs).length)}/${c.epochs}`;
  }

  async setup(resuming: boolean): Promise<void> {
    const c = this.config;
    this.engine = await Engine.create();
    const modelConfig = modelConfigOf(c);
    this.model = VMUNet.create(this.engine, modelConfig, { seed: c.seed });
    ({ optimizer: this.optimizer, scheduler: this.scheduler, state: this.state } =
      createOptimization(this.model, c));
    const params = this.model.parameterCount;
    this.line(`VM-UNet training → ${this.runDir}`);
    this.line(`adapter   ${adapterLine(this.engine)}`);
    const dims = typeof modelConfig.dims === "number" ? modelConfig.dims : modelConfig.dims[0];
    this.line(
      `model     ${c.model} dims ${dims} depths ${modelConfig.depths} / ${modelConfig.depthsDecoder}` +
        ` d_state ${modelConfig.dState}, ${modelConfig.numClasses} class(es): ${
          formatCount(params)
        } parameters (${(params * 4 / 2 ** 20).toFixed(1)} MiB)`,
    );
    if (resuming) {
      const ckpt = await readTrainCheckpoint(this.lastPath);
      this.model.loadStateDict(ckpt.weights, { source: this.lastPath });
      loadOptimizerState(this.optimizer, ckpt.optimizer);
      this.scheduler.load(ckpt.state.scheduler);
      this.model.rng.stream = ckpt.state.dropPathStream;
      this.state = ckpt.state;
      this.records = await readJsonl(`${this.runDir}/log.jsonl`);
      // Records written after the checkpoint (a crash between the log and the save) are dropped.
      const kept = this.records.filter((r) => (r.epoch as number) <= this.state.epoch);
      if (kept.length !== this.records.length) {
        await writeAtomic(
          `${this.runDir}/log.jsonl`,
          kept.map((r) => JSON.stringify(r) + "\n").join(""),
        );
      }
      this.records = kept;
      this.line(
        `resume    from ${this.lastPath}: epoch ${this.state.epoch}, step ${this.state.stepInEpoch}`,
      );
    } else if (c.pretrained) {
      const { mapping, report } = this.model.loadPretrainedVMamba(
        await readCheckpoint(c.pretrained),
      );
      this.line(
        `pretrained ${c.pretrained}: ${mapping.tensors.size} tensors loaded, ${report.missing.length} ` +
          `kept at their initial values, ${mapping.dropped.length} unused`,
      );
    }
  }

  async openData(): Promise<void> {
    const c = this.config;
    this.data = await openRunData(c);
    if (this.data.train.numClasses !== c.numClasses) {
      throw new UsageError(
        `"numClasses" is ${c.numClasses} but the ${c.data} data has ${this.data.train.numClasses}`,
      );
    }
    this.loader = new DataLoader(this.data.train, {
      batchSize: c.batchSize,
      seed: c.seed,
      shuffle: true,
      workers: c.workers,
    });
    if (this.data.val) {
      this.valLoader = new DataLoader(this.data.val, {
        batchSize: c.evalBatchSize,
        shuffle: false,
        workers: c.workers,
      });
    }
  }

  /** Saves `last` (and `best`) atomically: weights, optimizer and the loop's state. */
  async saveCheckpoint(best: boolean): Promise<void> {
    const bytes = await serializeTrainCheckpoint(
      this.model,
      this.optimizer,
      this.config,
      this.state,
    );
    await writeAtomic(this.lastPath, bytes);
    if (best) await writeAtomic(this.bestPath, bytes);
  }

  async log(record: Record<string, unknown>): Promise<void> {
    this.records.push(record);
    await appendJsonl(`${this.runDir}/log.jsonl`, record);
  }

  /** Evaluates on the validation images or volumes, showing progress on a terminal. */
  async evaluate(label: string): Promise<EvalOutcome> {
    const c = this.config;
    const t0 = performance.now();
    // Plain output (logs) gets the result line only.
    const show = (done: number, total: number) => {
      if (this.io.tty) this.progress.update({ label, step: done, total });
    };
    let evaluation: Evaluation;
    if (this.valLoader && this.data.val) {
      evaluation = await evaluateBatches(this.model, this.valLoader.epoch(0), {
        numClasses: c.numClasses,
        total: this.data.val.length,
        lossWeights: c.lossWeights,
        examples: c.reportImages,
        onProgress: show,
      });
    } else {
      evaluation = await evaluateVolumes(this.model, this.data.volumes!, {
        size: c.imageSize,
        batchSize: c.evalBatchSize,
        numClasses: c.numClasses,
        examples: c.reportImages,
        onProgress: show,
      });
    }
    return { evaluation, seconds: (performance.now() - t0) / 1000 };
  }

  async writeReport(examples: ReportExample[]): Promise<void> {
    const epochs = this.records.filter((r) => r.type === "epoch");
    const evals = this.records.filter((r) => r.type === "eval" && !r.final);
    const pts = (rs: Record<string, unknown>[], key: string) =>
      rs.filter((r) => typeof r[key] === "number")
        .map((r) => [r.epoch as number, r[key] as number] as [number, number]);
    const charts: [string, Series[]][] = [
      ["Loss", [
        { name: "train", points: pts(epochs, "trainLoss") },
        { name: "validation", points: pts(evals, "valLoss") },
      ]],
      ["Validation metrics", [
        { name: "DSC", points: pts(evals, "dsc") },
        { name: "mIoU", points: pts(evals, "miou") },
      ]],
      ["Learning rate", [{ name: "lr", points: pts(epochs, "lr") }]],
    ];
    const best = this.state.best;
    const c = this.config;
    const summary: Record<string, string> = {
      adapter: adapterLine(this.engine),
      model: `${c.model} (${formatCount(this.model.parameterCount)} parameters)`,
      data: describeData(c, this.data),
      epochs: `${this.state.epoch} of ${c.epochs}`,
      selection: c.selection,
      best: best ? `epoch ${best.epoch}: ${best.metric} ${best.value.toFixed(4)}` : "—",
    };
    await writeAtomic(
      `${this.runDir}/report.html`,
      renderReport(this.runName, summary, charts, examples),
    );
  }

  /** The progress line: rewritten every step on a terminal; in logs at most every 20 s. */
  showProgress(p: StepProgress): void {
    if (this.lastPlain.epoch !== p.epoch) this.lastPlain = { epoch: p.epoch, time: p.epochStart };
    const plainDue = p.lossRead &&
      (p.step === p.stepsPerEpoch || p.readTime - this.lastPlain.time > 20_000);
    if (plainDue) this.lastPlain.time = p.readTime;
    if (!this.io.tty && !plainDue) return;
    this.progress.update({
      label: this.epochLabel(p.epoch + 1),
      step: p.step,
      total: p.stepsPerEpoch,
      values: { loss: p.loss, lr: p.lr },
      imagesPerSecond: p.imagesPerSecond,
      etaSeconds: p.etaSeconds,
      runEtaSeconds: p.runEtaSeconds,
    });
  }

  async epochEnd(e: EpochSummary): Promise<void> {
    this.progress.done();
    await this.log({
      type: "epoch",
      epoch: e.epoch,
      lr: e.lr,
      trainLoss: e.trainLoss,
      steps: e.losses.length,
      losses: e.losses,
      seconds: e.seconds,
      imagesPerSecond: e.imagesPerSecond,
      time: new Date().toISOString(),
    });
  }

  async validated(v: ValidationOutcome): Promise<void> {
    this.progress.done();
    await this.log({
      type: "eval",
      epoch: v.epoch,
      split: "val",
      ...evaluationRecord(v.evaluation),
      best: v.improved,
      seconds: v.seconds,
      time: new Date().toISOString(),
    });
    this.line(
      `${this.epochLabel(v.epoch)} ${evaluationLine(v.evaluation)}${v.improved ? "  ★ best" : ""}`,
    );
  }

  async checkpoint(c: CheckpointRequest): Promise<void> {
    await this.saveCheckpoint(c.best);
    if (c.validation) await this.writeReport(c.validation.evaluation.examples);
  }

  /** Trains to the last epoch with the shared loop; the run folder keeps everything. */
  async run(): Promise<TrainResult> {
    const c = this.config;
    this.line(`data      ${describeData(c, this.data)}`);
    this.line(
      `train     ${c.epochs} epochs × ${this.loader.length} steps, batch ${c.batchSize}, AdamW lr ${c.lr} ` +
        `wd ${c.weightDecay}, cosine T_max ${c.tMax} → ${c.etaMin}, ${
          c.numClasses === 1 ? "BceDice" : "CeDice"
        } ${
          c.lossWeights.join(":")
        }, drop path ${c.dropPath}, seed ${c.seed}, best by ${c.selection}`,
    );
    const hasValidation = this.data.val !== null || this.data.volumes !== null;
    this.loop = new TrainingLoop({
      model: this.model,
      optimizer: this.optimizer,
      scheduler: this.scheduler,
      loader: this.loader,
      dataset: this.data.train,
      state: this.state,
      settings: c,
      signal: this.options.signal,
      hooks: {
        afterStep: this.options.afterStep,
        progress: (p) => this.showProgress(p),
        epochEnd: (e) => this.epochEnd(e),
        validate: hasValidation
          ? async (epoch) => (await this.evaluate(`${this.epochLabel(epoch)} val`)).evaluation
          : undefined,
        validated: (v) => this.validated(v),
        checkpoint: (r) => this.checkpoint(r),
      },
    });
    const outcome = await this.loop.run();
    if (outcome.stopped) {
      if (outcome.step > 0) this.progress.done(); // an ended epoch has finished its line
      const where = outcome.step > 0
        ? `: saved ${this.lastPath} (epoch ${
          this.state.epoch + 1
        }, step ${outcome.step}/${outcome.stepsPerEpoch});`
        : ` after epoch ${this.state.epoch}: saved ${this.lastPath};`;
      this.line(`interrupted${where} continue with --resume --name ${this.runName}`);
      return { code: EXIT_INTERRUPTED, runDir: this.runDir };
    }
    const bestDice = await this.finish();
    return { code: 0, runDir: this.runDir, bestDice };
  }

  /** Evaluates the best checkpoint when its epoch was not evaluated; prints the summary. */
  async finish(): Promise<number | undefined> {
    const best = this.state.best;
    const evals = this.records.filter((r) => r.type === "eval");
    let bestEval = best ? evals.find((r) => r.epoch === best.epoch && !r.final) : undefined;
    if (best && !bestEval && (this.data.val || this.data.volumes)) {
      const ckpt = await readTrainCheckpoint(this.bestPath);
      this.model.loadStateDict(ckpt.weights, { source: this.bestPath });
      const { evaluation, seconds } = await this.evaluate(`best (epoch ${best.epoch}) test`);
      this.progress.done();
      const record = {
        type: "eval",
        epoch: best.epoch,
        split: "val",
        checkpoint: "best",
        final: true,
        ...evaluationRecord(evaluation),
        seconds,
        time: new Date().toISOString(),
      };
      await this.log(record);
      bestEval = record;
      this.line(`best checkpoint (epoch ${best.epoch}): ${evaluationLine(evaluation)}`);
      await this.writeReport(evaluation.examples);
    }
    const total = this.loop?.elapsedSeconds ?? this.state.elapsedSeconds;
    const dice = bestEval ? bestEval.dsc as number : undefined;
    this.line(
      `done in ${formatDuration(total)}: ${
        best
          ? `best epoch ${best.epoch} (${best.metric} ${best.value.toFixed(4)}${
            dice !== undefined ? `, DSC ${(100 * dice).toFixed(2)}` : ""
          }) → ${this.bestPath}`
          : "no best checkpoint"
      }; report ${this.runDir}/report.html`,
    );
    return dice;
  }

  async close(): Promise<void> {
    await this.loader?.close();
    await this.valLoader?.close();
    await this.engine?.close();
  }
}

/**
 * Runs `train`: resolves the configuration, checks the data and the run folder, then trains.
 *
 * @param args Parsed arguments.
 * @param io Output sink.
 * @param options Stop signal and test hooks.
 * @returns The exit code and the run folder.
 * @throws {UsageError}, {@linkcode RunDirError}, dataset or checkpoint errors before training.
 */
export async function runTrain(
  args: TrainArgs,
  io: Io,
  options: TrainRunOptions = {},
): Promise<TrainResult> {
  const { config, runDir } = await resolveTrainInvocation(args);
  const trainer = new Trainer(config, runDir, io, options);
  try {
    // Data first (a missing folder or a bad layout), then the run folder, then the GPU.
    await trainer.openData();
    if (config.pretrained && !args.resume) {
      await checkPretrained(config.pretrained, modelConfigOf(config));
    }
    const paramsGuess = 4 * 3 * 2 ** 20 * (config.model === "vmunet-s" ? 28 : 2);
    const resuming = await prepareRunDir(runDir, {
      resume: args.resume,
      force: args.force,
      minFreeBytes: Math.max(64 * 2 ** 20, 3 * paramsGuess),
      note: (line) => trainer.line(line),
    });
    if (!resuming) {
      await writeAtomic(`${runDir}/config.json`, JSON.stringify(config, null, 2) + "\n");
    }
    await trainer.setup(resuming);
    if (trainer.state.epoch >= config.epochs) {
      trainer.line(
        `${runDir} already finished ${trainer.state.epoch} epochs; raise --epochs to continue`,
      );
      return { code: 0, runDir };
    }
    if (resuming) {
      await writeAtomic(`${runDir}/config.json`, JSON.stringify(config, null, 2) + "\n");
    }
    return await trainer.run();
  } catch (error) {
    if (error instanceof TrainingDataError) throw new UsageError(error.message);
    if (error instanceof NonFiniteLossError) {
      trainer.progress.done();
      const state = trainer.state;
      const saved = state.epoch > 0 || state.stepInEpoch > 0;
      const keep = saved
        ? `the last good checkpoint ${trainer.lastPath} (epoch ${state.epoch}) is kept`
        : "no checkpoint was written yet";
      const advice = divergenceAdvice(config, saved, trainer.runName);
      const message = `${error.message}: stopped; ${keep}. ${advice}`;
      io.error(`error: ${message}`);
      await appendJsonl(`${runDir}/log.jsonl`, {
        type: "error",
        epoch: trainer.state?.epoch,
        message,
        time: new Date().toISOString(),
      }).catch(() => {});
      return { code: EXIT_NON_FINITE, runDir };
    }
    throw error;
  } finally {
    await trainer.close();
  }
}
