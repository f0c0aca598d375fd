/**
 * One training run in its run folder: the model and optimizer on the GPU (new, pretrained
 * or resumed from `last.safetensors`), the data loaders, the shared {@linkcode TrainingLoop}
 * with this app's hooks (progress line, `log.jsonl`, atomic checkpoints, `report.html`) and
 * the closing summary.
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
  type StepInfo,
  type StepProgress,
  TrainingLoop,
  type TrainingOutcome,
  type ValidationOutcome,
} from "@vmunet/vmunet/training";
import { describeData, openRunData, type RunData } from "./data.ts";
import type { Io } from "./io.ts";
import {
  loadOptimizerState,
  modelConfigOf,
  readTrainCheckpoint,
  serializeTrainCheckpoint,
  type TrainState,
} from "./model_io.ts";
import { formatDuration, ProgressWriter } from "./progress.ts";
import { renderReport, type ReportExample } from "./report.ts";
import { adapterLine, modelLine, protocolLine, reportSummary } from "./run_banner.ts";
import { writeAtomic } from "./run_dir.ts";
import { type LogRecord, RunLog } from "./run_log.ts";
import { type TrainConfig, UsageError } from "./train_config.ts";

/** Exit code of a run interrupted by Ctrl-C (after saving). */
export const EXIT_INTERRUPTED = 130;

/** Options of a training run beyond the command line. */
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

interface EvalOutcome {
  evaluation: Evaluation;
  seconds: number;
}

/**
 * A training run: {@linkcode openData}, then {@linkcode setup}, then {@linkcode run}, and
 * {@linkcode close} in the end whatever happened.
 */
export class Trainer {
  /** The effective configuration. */
  readonly config: TrainConfig;
  /** The run folder. */
  readonly runDir: string;
  /** Output sink. */
  readonly io: Io;
  /** Stop signal and test hooks. */
  readonly options: TrainRunOptions;
  /** The progress line and the lines above it. */
  readonly progress: ProgressWriter;
  /** The run's `log.jsonl`. */
  readonly log: RunLog;
  engine!: Engine;
  model!: VMUNet;
  optimizer!: AdamW;
  scheduler!: CosineAnnealingLR;
  data!: RunData;
  loader!: DataLoader;
  valLoader: DataLoader | null = null;
  state!: TrainState;
  loop: TrainingLoop | null = null;
  /** When the plain (non-terminal) progress line was last written, and in which epoch. */
  lastPlain = { epoch: -1, time: 0 };

  /** Creates the run; nothing is opened yet. */
  constructor(config: TrainConfig, runDir: string, io: Io, options: TrainRunOptions) {
    this.config = config;
    this.runDir = runDir;
    this.io = io;
    this.options = options;
    this.log = new RunLog(runDir);
    this.progress = new ProgressWriter({
      tty: io.tty,
      write: (t) => io.write(t),
      plainEvery: 1,
    });
  }

  /** Writes one line above the progress line. */
  line(text: string): void {
    this.progress.line(text);
  }

  /** The checkpoint a run resumes from, saved after every epoch and on a stop. */
  get lastPath(): string {
    return `${this.runDir}/last.safetensors`;
  }

  /** The checkpoint of the best epoch by the selection metric. */
  get bestPath(): string {
    return `${this.runDir}/best.safetensors`;
  }

  /** The run folder's name (what `--resume --name` takes). */
  get runName(): string {
    return this.runDir.split("/").pop()!;
  }

  /** `epoch  3/10`, padded to the width of the last epoch. */
  epochLabel(epoch: number): string {
    const c = this.config;
    return `epoch ${String(epoch).padStart(String(c.epochs).length)}/${c.epochs}`;
  }

  // ---- before training: data, model, weights --------------------------------------------

  /** Opens the training (and validation) data and their loaders. */
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

  /** Creates the model and optimizer, then resumes from `last` or loads pretrained weights. */
  async setup(resuming: boolean): Promise<void> {
    await this.createModel();
    if (resuming) await this.resume();
    else if (this.config.pretrained) await this.loadPretrained(this.config.pretrained);
  }

  private async createModel(): Promise<void> {
    const c = this.config;
    this.engine = await Engine.create();
    const modelConfig = modelConfigOf(c);
    this.model = VMUNet.create(this.engine, modelConfig, { seed: c.seed });
    ({ optimizer: this.optimizer, scheduler: this.scheduler, state: this.state } =
      createOptimization(this.model, c));
    this.line(`VM-UNet training → ${this.runDir}`);
    this.line(`adapter   ${adapterLine(this.engine)}`);
    this.line(`model     ${modelLine(c, modelConfig, this.model.parameterCount)}`);
  }

  /** Restores weights, optimizer, schedule, drop-path stream and loop state from `last`. */
  private async resume(): Promise<void> {
    const ckpt = await readTrainCheckpoint(this.lastPath);
    this.model.loadStateDict(ckpt.weights, { source: this.lastPath });
    loadOptimizerState(this.optimizer, ckpt.optimizer);
    this.scheduler.load(ckpt.state.scheduler);
    this.model.rng.stream = ckpt.state.dropPathStream;
    this.state = ckpt.state;
    await this.log.resume(this.state.epoch);
    this.line(
      `resume    from ${this.lastPath}: epoch ${this.state.epoch}, step ${this.state.stepInEpoch}`,
    );
  }

  private async loadPretrained(path: string): Promise<void> {
    const { mapping, report } = this.model.loadPretrainedVMamba(await readCheckpoint(path));
    this.line(
      `pretrained ${path}: ${mapping.tensors.size} tensors loaded, ${report.missing.length} ` +
        `kept at their initial values, ${mapping.dropped.length} unused`,
    );
  }

  // ---- training: the shared loop and this app's hooks -----------------------------------

  /** Trains to the last epoch with the shared loop; the run folder keeps everything. */
  async run(): Promise<TrainResult> {
    this.announce();
    this.loop = this.createLoop();
    const outcome = await this.loop.run();
    if (outcome.stopped) return this.interrupted(outcome);
    const bestDice = await this.finish();
    return { code: 0, runDir: this.runDir, bestDice };
  }

  /** The data and training-protocol lines printed before the first step. */
  private announce(): void {
    const c = this.config;
    this.line(`data      ${describeData(c, this.data)}`);
    this.line(`train     ${protocolLine(c, this.loader.length)}`);
  }

  private createLoop(): TrainingLoop {
    const hasValidation = this.data.val !== null || this.data.volumes !== null;
    return new TrainingLoop({
      model: this.model,
      optimizer: this.optimizer,
      scheduler: this.scheduler,
      loader: this.loader,
      dataset: this.data.train,
      state: this.state,
      settings: this.config,
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
  }

  /** The progress line: rewritten every step on a terminal; in logs at most every 20 s. */
  private showProgress(p: StepProgress): void {
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

  private async epochEnd(e: EpochSummary): Promise<void> {
    this.progress.done();
    await this.log.epochEnded(e);
  }

  /** Evaluates on the validation images or volumes, showing progress on a terminal. */
  private async evaluate(label: string): Promise<EvalOutcome> {
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

  private async validated(v: ValidationOutcome): Promise<void> {
    this.progress.done();
    await this.log.validated(v);
    this.line(
      `${this.epochLabel(v.epoch)} ${evaluationLine(v.evaluation)}${v.improved ? "  ★ best" : ""}`,
    );
  }

  // ---- the run folder: checkpoints and report -------------------------------------------

  private async checkpoint(c: CheckpointRequest): Promise<void> {
    await this.saveCheckpoint(c.best);
    if (c.validation) await this.writeReport(c.validation.evaluation.examples);
  }

  /** Saves `last` (and `best`) atomically: weights, optimizer and the loop's state. */
  private async saveCheckpoint(best: boolean): Promise<void> {
    const bytes = await serializeTrainCheckpoint(
      this.model,
      this.optimizer,
      this.config,
      this.state,
    );
    await writeAtomic(this.lastPath, bytes);
    if (best) await writeAtomic(this.bestPath, bytes);
  }

  private async writeReport(examples: ReportExample[]): Promise<void> {
    const summary = reportSummary(
      this.config,
      this.engine,
      this.model.parameterCount,
      this.data,
      this.state,
    );
    await writeAtomic(
      `${this.runDir}/report.html`,
      renderReport(this.runName, summary, this.log.charts(), examples),
    );
  }

  // ---- after training -------------------------------------------------------------------

  /** Says where a stopped run saved and how to continue it. */
  private interrupted(outcome: TrainingOutcome): TrainResult {
    if (outcome.step > 0) this.progress.done(); // an ended epoch has finished its line
    const where = outcome.step > 0
      ? `: saved ${this.lastPath} (epoch ${
        this.state.epoch + 1
      }, step ${outcome.step}/${outcome.stepsPerEpoch});`
      : ` after epoch ${this.state.epoch}: saved ${this.lastPath};`;
    this.line(`interrupted${where} continue with --resume --name ${this.runName}`);
    return { code: EXIT_INTERRUPTED, runDir: this.runDir };
  }

  /** Evaluates the best checkpoint when its epoch was not evaluated; prints the summary. */
  private async finish(): Promise<number | undefined> {
    const best = this.state.best;
    let bestEval = best ? this.log.validationOf(best.epoch) : undefined;
    if (best && !bestEval && (this.data.val || this.data.volumes)) {
      bestEval = await this.evaluateBest(best.epoch);
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

  /** Loads `best`, evaluates it, logs a final record and rewrites the report. */
  private async evaluateBest(epoch: number): Promise<LogRecord> {
    const ckpt = await readTrainCheckpoint(this.bestPath);
    this.model.loadStateDict(ckpt.weights, { source: this.bestPath });
    const { evaluation, seconds } = await this.evaluate(`best (epoch ${epoch}) test`);
    this.progress.done();
    const record = await this.log.bestEvaluated(epoch, evaluation, seconds);
    this.line(`best checkpoint (epoch ${epoch}): ${evaluationLine(evaluation)}`);
    await this.writeReport(evaluation.examples);
    return record;
  }

  /** Closes the loaders and the engine (whatever was opened). */
  async close(): Promise<void> {
    await this.loader?.close();
    await this.valLoader?.close();
    await this.engine?.close();
  }
}
