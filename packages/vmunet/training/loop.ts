/**
 * The training loop of VM-UNet with the official protocol — AdamW, the periodic cosine
 * schedule stepped per epoch, BceDice / CeDice, validation after epochs and model selection —
 * on any WebGPU runtime. Each step is recorded into one command encoder; the loss is copied
 * to a GPU log and read back every `logEvery` steps (a readback costs a sync). Where the
 * state goes (files, a download, memory) is the caller's: it implements the checkpoint hook,
 * and a stop signal ends the run after the current step with a checkpoint.
 *
 * @module
 */

import {
  AdamW,
  bceDiceLoss,
  ceDiceLoss,
  CosineAnnealingLR,
  type CosineAnnealingState,
  type Tensor,
} from "@vmunet/tensor";
import { type Batch, type DataLoader, type Dataset, stackSamples } from "@vmunet/datasets";
import type { VMUNet } from "../model.ts";
import { type Evaluation, evaluationDice } from "./evaluate.ts";

/**
 * How the best checkpoint is chosen: lowest validation loss (official ISIC), lowest training
 * loss (official Synapse) or highest validation Dice.
 */
export type Selection = "val-loss" | "train-loss" | "val-dice";

/** Where a run stands; saved with every checkpoint so that a resumed run continues exactly. */
export interface TrainingState {
  /** Epochs completed (the next epoch to run is `epoch`, 0-based). */
  epoch: number;
  /** Steps already done in epoch `epoch` (non-zero when stopped mid-epoch). */
  stepInEpoch: number;
  /** Optimizer steps since the start. */
  globalStep: number;
  /** The learning-rate schedule. */
  scheduler: CosineAnnealingState;
  /** The next stream of the DropPath generator. */
  dropPathStream: number;
  /** Per-step losses of the unfinished epoch `epoch` (its first `stepInEpoch` steps). */
  epochLosses: number[];
  /** The best value of the selection metric so far, and its epoch (1-based). */
  best: { metric: string; value: number; epoch: number } | null;
  /** Seconds spent training so far. */
  elapsedSeconds: number;
}

/** Raised when the loss becomes NaN or infinite; names the epoch and step. */
export class NonFiniteLossError extends Error {
  /** The non-finite value. */
  readonly value: number;
  /** Epoch (1-based). */
  readonly epoch: number;
  /** Step within the epoch (1-based). */
  readonly step: number;
  /** Creates the error. */
  constructor(value: number, epoch: number, step: number, lr: number) {
    super(
      `training loss became ${value} at epoch ${epoch}, step ${step} (lr ${lr.toExponential(3)})`,
    );
    this.name = "NonFiniteLossError";
    this.value = value;
    this.epoch = epoch;
    this.step = step;
  }
}

/** The optimizer settings of a run (the official AdamW and cosine schedule). */
export interface OptimizationSettings {
  /** Learning rate. */
  lr: number;
  /** AdamW betas. */
  betas: [number, number];
  /** AdamW eps. */
  eps: number;
  /** AdamW decoupled weight decay (applied to all parameters, as the official config). */
  weightDecay: number;
  /** Clip gradients to this global L2 norm (0 = off, the official setting). */
  maxGradNorm: number;
  /** CosineAnnealingLR half period in epochs (PyTorch's chained, periodic form). */
  tMax: number;
  /** CosineAnnealingLR minimum. */
  etaMin: number;
}

/**
 * The optimizer, the schedule and the initial state of a run on `model`.
 *
 * @param model The model.
 * @param s Optimizer settings.
 * @returns AdamW over every parameter, its cosine schedule and the state at step 0.
 */
export function createOptimization(
  model: VMUNet,
  s: OptimizationSettings,
): { optimizer: AdamW; scheduler: CosineAnnealingLR; state: TrainingState } {
  const optimizer = new AdamW([...model.parameters.values()], {
    lr: s.lr,
    betas: s.betas,
    eps: s.eps,
    weightDecay: s.weightDecay,
    maxGradNorm: s.maxGradNorm > 0 ? s.maxGradNorm : undefined,
  });
  const scheduler = new CosineAnnealingLR({
    baseLr: s.lr,
    tMax: s.tMax,
    etaMin: s.etaMin,
    optimizer,
  });
  const state: TrainingState = {
    epoch: 0,
    stepInEpoch: 0,
    globalStep: 0,
    scheduler: scheduler.state(),
    dropPathStream: model.rng.stream,
    epochLosses: [],
    best: null,
    elapsedSeconds: 0,
  };
  return { optimizer, scheduler, state };
}

/** The part of the model a step hook may use. */
export interface StepModel {
  /** Loads parameter values by official key (`strict: false` loads a subset). */
  loadStateDict(
    tensors: ReadonlyMap<string, { shape: number[]; data: Float32Array }>,
    options?: { strict?: boolean },
  ): unknown;
}

/** What a step hook sees after each optimizer step. */
export interface StepInfo {
  /** Epoch, 0-based. */
  epoch: number;
  /** Step within the epoch, 0-based. */
  step: number;
  /** The model. */
  model: StepModel;
}

/** Progress after a step. */
export interface StepProgress {
  /** Epoch, 0-based. */
  epoch: number;
  /** Steps done in the epoch. */
  step: number;
  /** Steps per epoch. */
  stepsPerEpoch: number;
  /** The last loss read back (NaN before the first readback). */
  loss: number;
  /** The epoch's learning rate. */
  lr: number;
  /** Whether the losses were read back at this step. */
  lossRead: boolean;
  /** `performance.now()` at the epoch's start and at the last readback. */
  epochStart: number;
  /** `performance.now()` at the last readback. */
  readTime: number;
  /** Images per second up to the last readback. */
  imagesPerSecond?: number;
  /** Seconds left in the epoch. */
  etaSeconds?: number;
  /** Seconds left in the run (validation included). */
  runEtaSeconds?: number;
}

/** An epoch's summary. */
export interface EpochSummary {
  /** Epoch, 1-based. */
  epoch: number;
  /** Its learning rate. */
  lr: number;
  /** Mean of its step losses. */
  trainLoss: number;
  /** Every step loss. */
  losses: number[];
  /** Seconds. */
  seconds: number;
  /** Images per second. */
  imagesPerSecond: number;
  /** Whether the stop signal fired during the epoch. */
  stopped: boolean;
}

/** A validation after an epoch. */
export interface ValidationOutcome {
  /** Epoch, 1-based. */
  epoch: number;
  /** The evaluation. */
  evaluation: Evaluation;
  /** Seconds it took. */
  seconds: number;
  /** Whether it made the best checkpoint. */
  improved: boolean;
}

/** What the checkpoint hook is asked to save (the state is already up to date). */
export interface CheckpointRequest {
  /** The state to save with the weights and the optimizer. */
  state: TrainingState;
  /** Whether this checkpoint is the best so far. */
  best: boolean;
  /** The validation of this epoch, if one ran. */
  validation?: ValidationOutcome;
}

/** Callbacks of {@linkcode TrainingLoop}; every one is optional. */
export interface TrainingHooks {
  /** After each optimizer step (before any readback). */
  afterStep?: (info: StepInfo) => void;
  /**
   * After each step, with the losses read so far. A returned promise is awaited (a page yields
   * to the browser here, so that it can paint and take a click on its stop button).
   */
  progress?: (p: StepProgress) => void | Promise<void>;
  /** After each epoch (also a stopped one), before validation. */
  epochEnd?: (e: EpochSummary) => void | Promise<void>;
  /** Validation of the model (called after epochs as `evalEvery` says); none: no validation. */
  validate?: (epoch: number) => Promise<Evaluation>;
  /** After each validation. */
  validated?: (v: ValidationOutcome) => void | Promise<void>;
  /** Saves a checkpoint: after every epoch, and when stopped mid-epoch. */
  checkpoint?: (c: CheckpointRequest) => Promise<void>;
}

/** The schedule of a run. */
export interface TrainingSettings {
  /** Epochs. */
  epochs: number;
  /** Read the losses back every this many steps. */
  logEvery: number;
  /** Validate every this many epochs (and after the last one). */
  evalEvery: number;
  /** Output classes (1 = BceDice, otherwise CeDice). */
  numClasses: number;
  /** Input channels the data must have. */
  inChannels: number;
  /** Loss weights: [BCE or CE, Dice]. */
  lossWeights: readonly [number, number];
  /** Checkpoint selection rule. */
  selection: Selection;
}

/** Everything {@linkcode TrainingLoop} runs on. */
export interface TrainingLoopOptions {
  /** The model. */
  model: VMUNet;
  /** Its optimizer. */
  optimizer: AdamW;
  /** The learning-rate schedule. */
  scheduler: CosineAnnealingLR;
  /** Training batches (shuffled, seeded). */
  loader: DataLoader;
  /** The training dataset of the loader (resuming mid-epoch loads from it). */
  dataset: Dataset;
  /** Where the run stands (from {@linkcode createOptimization} or a checkpoint). */
  state: TrainingState;
  /** The schedule. */
  settings: TrainingSettings;
  /** Callbacks. */
  hooks?: TrainingHooks;
  /** Aborting it stops the run after the current step, with a checkpoint. */
  signal?: AbortSignal;
}

/** How a run ended. */
export interface TrainingOutcome {
  /** Whether the stop signal ended it early. */
  stopped: boolean;
  /** Steps done in the epoch it stopped in (stopped mid-epoch), else 0. */
  step: number;
  /** Steps per epoch. */
  stepsPerEpoch: number;
}

/** Iterates the batches of an epoch from step `skip` on (the same batches as a full epoch). */
async function* epochBatches(
  loader: DataLoader,
  dataset: Dataset,
  epoch: number,
  skip: number,
): AsyncGenerator<Batch> {
  if (skip === 0) {
    yield* loader.epoch(epoch);
    return;
  }
  if (loader.workers === 0) {
    for (const indices of loader.batches(epoch).slice(skip)) {
      yield stackSamples(await Promise.all(indices.map((i) => dataset.get(i, epoch))), indices);
    }
    return;
  }
  let k = 0;
  for await (const b of loader.epoch(epoch)) if (k++ >= skip) yield b;
}

/** Raised when a batch does not fit the model's input channels. */
export class TrainingDataError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "TrainingDataError";
  }
}

/**
 * Runs epochs of training from a state to `settings.epochs`.
 *
 * @example
 * ```ts
 * import { Engine } from "@vmunet/tensor";
 * import { DataLoader, SyntheticDataset } from "@vmunet/datasets";
 * import { preset, VMUNet } from "@vmunet/vmunet";
 * import { createOptimization, TrainingLoop } from "@vmunet/vmunet/training";
 * const engine = await Engine.create();
 * const model = VMUNet.create(engine, preset("vmunet-t", { dims: 8, depths: [1, 1, 1, 1],
 *   depthsDecoder: [1, 1, 1, 1] }), { seed: 1 });
 * const o = createOptimization(model, { lr: 3e-3, betas: [0.9, 0.999], eps: 1e-8,
 *   weightDecay: 0.01, maxGradNorm: 1, tMax: 2, etaMin: 1e-5 });
 * const dataset = new SyntheticDataset({ count: 8, size: 32, seed: 1 });
 * const loader = new DataLoader(dataset, { batchSize: 4, seed: 1, shuffle: true, workers: 0 });
 * const losses: number[] = [];
 * const loop = new TrainingLoop({ model, ...o, loader, dataset, settings: { epochs: 1,
 *   logEvery: 2, evalEvery: 1, numClasses: 1, inChannels: 3, lossWeights: [1, 1],
 *   selection: "train-loss" }, hooks: { epochEnd: (e) => void losses.push(...e.losses) } });
 * await loop.run();
 * if (losses.length !== 2 || !losses.every(Number.isFinite)) throw new Error("no losses");
 * await engine.close();
 * ```
 */
export class TrainingLoop {
  /** The model. */
  readonly model: VMUNet;
  /** The optimizer. */
  readonly optimizer: AdamW;
  /** The schedule. */
  readonly scheduler: CosineAnnealingLR;
  /** Where the run stands (updated as it runs). */
  state: TrainingState;
  readonly #o: TrainingLoopOptions;
  readonly #hooks: TrainingHooks;
  #startTime = 0;
  #lastEvalSeconds = 0;

  /** Creates the loop; nothing runs until {@linkcode TrainingLoop.run}. */
  constructor(options: TrainingLoopOptions) {
    this.#o = options;
    this.#hooks = options.hooks ?? {};
    this.model = options.model;
    this.optimizer = options.optimizer;
    this.scheduler = options.scheduler;
    this.state = options.state;
  }

  /** Seconds trained in total: the saved state's plus this run's since the last checkpoint. */
  get elapsedSeconds(): number {
    return this.state.elapsedSeconds + (performance.now() - this.#startTime) / 1000;
  }

  /** The official loss of `output` on the batch's targets (BceDice or CeDice). */
  lossOf(output: Tensor, batch: Batch): Tensor {
    const engine = this.model.engine;
    const { size: b, height: h, width: w } = batch;
    const [w0, w1] = this.#o.settings.lossWeights;
    if (this.#o.settings.numClasses === 1) {
      const y = engine.tensor(batch.masks as Float32Array, [b, 1, h, w]);
      return bceDiceLoss(output, y, { wb: w0, wd: w1 });
    }
    const y = engine.tensor(batch.masks as Int32Array, [b, h, w], { dtype: "i32" });
    return ceDiceLoss(output, y, { wce: w0, wdice: w1 });
  }

  /** One optimizer step on a batch, its loss copied to `lossLog[at]` on the GPU. */
  step(batch: Batch, lossLog: Tensor, at: number): void {
    const engine = this.model.engine;
    engine.scope(() => {
      const x = engine.tensor(batch.images, [
        batch.size,
        batch.channels,
        batch.height,
        batch.width,
      ]);
      const { output } = this.model.forward(x, { training: true });
      const loss = this.lossOf(output, batch);
      loss.backward();
      this.optimizer.step();
      this.optimizer.zeroGrad();
      engine.commandEncoder().copyBufferToBuffer(loss.buffer, 0, lossLog.buffer, at * 4, 4);
    });
  }

  async #readLosses(log: Tensor, from: number, to: number, epoch: number): Promise<number[]> {
    const values = Array.from(((await log.read()) as Float32Array).subarray(from, to));
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new NonFiniteLossError(values[bad], epoch + 1, from + bad + 1, this.optimizer.lr);
    }
    return values;
  }

  /** Brings the state up to date (schedule, generator, time) and calls the checkpoint hook. */
  async #checkpoint(best: boolean, validation?: ValidationOutcome): Promise<void> {
    this.state.scheduler = this.scheduler.state();
    this.state.dropPathStream = this.model.rng.stream;
    this.state.elapsedSeconds += (performance.now() - this.#startTime) / 1000;
    this.#startTime = performance.now();
    await this.#hooks.checkpoint?.({ state: this.state, best, validation });
  }

  #selectionValue(trainLoss: number, evaluation: Evaluation | null): number | null {
    switch (this.#o.settings.selection) {
      case "train-loss":
        return trainLoss;
      case "val-loss":
        return evaluation && Number.isFinite(evaluation.loss) ? evaluation.loss : null;
      case "val-dice":
        return evaluation ? evaluationDice(evaluation) : null;
    }
  }

  #isBetter(value: number): boolean {
    const best = this.state.best;
    if (!best) return true;
    return this.#o.settings.selection === "val-dice" ? value > best.value : value < best.value;
  }

  /**
   * Trains the steps of one epoch from `state.stepInEpoch` on.
   *
   * @returns The epoch's losses, images and whether the stop signal ended it.
   */
  async #trainEpoch(
    epoch: number,
  ): Promise<{ losses: number[]; images: number; stopped: boolean }> {
    const s = this.#o.settings;
    const stepsPerEpoch = this.#o.loader.length;
    const skip = this.state.stepInEpoch;
    const losses = this.state.epochLosses.slice(0, skip);
    const lossLog = this.model.engine.zeros([stepsPerEpoch]);
    const epochStart = performance.now();
    let images = 0, step = skip, synced = skip, syncedImages = 0, readTime = epochStart;
    let lastLoss = losses.length ? losses[losses.length - 1] : NaN;
    const lr = this.optimizer.lr;
    try {
      for await (const batch of epochBatches(this.#o.loader, this.#o.dataset, epoch, skip)) {
        if (batch.channels !== s.inChannels) {
          throw new TrainingDataError(
            `"inChannels" is ${s.inChannels} but the data has ${batch.channels} channels`,
          );
        }
        this.step(batch, lossLog, step);
        const at = step++;
        images += batch.size;
        this.state.globalStep++;
        this.#hooks.afterStep?.({ epoch, step: at, model: this.model });
        const stopped = this.#o.signal?.aborted ?? false;
        const read = step % s.logEvery === 0 || step === stepsPerEpoch || stopped;
        if (read) {
          losses.push(...await this.#readLosses(lossLog, synced, step, epoch));
          synced = step;
          syncedImages = images;
          readTime = performance.now();
          lastLoss = losses[losses.length - 1];
        }
        const elapsed = (readTime - epochStart) / 1000;
        const done = synced - skip;
        const perStep = done > 0 ? elapsed / done : undefined;
        await this.#hooks.progress?.({
          epoch,
          step,
          stepsPerEpoch,
          loss: lastLoss,
          lr,
          lossRead: read,
          epochStart,
          readTime,
          imagesPerSecond: elapsed > 0 ? syncedImages / elapsed : undefined,
          etaSeconds: perStep !== undefined ? perStep * (stepsPerEpoch - step) : undefined,
          runEtaSeconds: perStep !== undefined
            ? perStep * (stepsPerEpoch - step) +
              (s.epochs - epoch - 1) * (perStep * stepsPerEpoch + this.#lastEvalSeconds)
            : undefined,
        });
        if (stopped) {
          this.state.stepInEpoch = step;
          this.state.epochLosses = losses;
          return { losses, images, stopped: true };
        }
      }
    } finally {
      lossLog.dispose();
    }
    return { losses, images, stopped: false };
  }

  /**
   * Runs the remaining epochs. Each epoch: its steps, the schedule step, the `epochEnd` hook,
   * validation when due (then `validated`), model selection and a checkpoint. A stop signal
   * ends the run after the current step: mid-epoch with a checkpoint of that step, at an
   * epoch's end after its checkpoint.
   *
   * @returns Whether it was stopped, and where.
   * @throws {NonFiniteLossError} when a loss read back is NaN or infinite (no checkpoint of
   * that epoch is written).
   */
  async run(): Promise<TrainingOutcome> {
    const s = this.#o.settings;
    const stepsPerEpoch = this.#o.loader.length;
    this.#startTime = performance.now();
    for (let epoch = this.state.epoch; epoch < s.epochs; epoch++) {
      const epochStart = performance.now();
      const lr = this.optimizer.lr;
      const trained = await this.#trainEpoch(epoch);
      const { losses, images } = trained;
      if (trained.stopped && this.state.stepInEpoch < stepsPerEpoch) {
        await this.#checkpoint(false);
        return { stopped: true, step: this.state.stepInEpoch, stepsPerEpoch };
      }
      // A stop during the epoch's last readback still ends the run here, without validation.
      const stopped = trained.stopped || (this.#o.signal?.aborted ?? false);
      const seconds = (performance.now() - epochStart) / 1000;
      const trainLoss = losses.reduce((a, b) => a + b, 0) / losses.length;
      this.scheduler.step();
      this.state.epoch = epoch + 1;
      this.state.stepInEpoch = 0;
      this.state.epochLosses = [];
      await this.#hooks.epochEnd?.({
        epoch: epoch + 1,
        lr,
        trainLoss,
        losses,
        seconds,
        imagesPerSecond: images / seconds,
        stopped,
      });
      const validate = this.#hooks.validate;
      const due = (epoch + 1) % s.evalEvery === 0 || epoch + 1 === s.epochs;
      let validation: ValidationOutcome | undefined;
      let evaluation: Evaluation | null = null;
      if (validate && due && !stopped) {
        const t0 = performance.now();
        evaluation = await validate(epoch + 1);
        this.#lastEvalSeconds = (performance.now() - t0) / 1000;
      }
      const value = this.#selectionValue(trainLoss, evaluation);
      const improved = value !== null && this.#isBetter(value);
      if (improved) this.state.best = { metric: s.selection, value: value!, epoch: epoch + 1 };
      if (evaluation) {
        validation = {
          epoch: epoch + 1,
          evaluation,
          seconds: this.#lastEvalSeconds,
          improved,
        };
        await this.#hooks.validated?.(validation);
      }
      await this.#checkpoint(improved, validation);
      if (stopped) return { stopped: true, step: 0, stepsPerEpoch };
    }
    return { stopped: false, step: 0, stepsPerEpoch };
  }
}
