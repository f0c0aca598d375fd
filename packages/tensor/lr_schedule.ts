/**
 * Learning-rate schedules.
 *
 * @module
 */

/** Something with a learning rate the schedule sets (an optimizer). */
export interface HasLearningRate {
  /** The current learning rate. */
  lr: number;
}

/** Options of {@linkcode CosineAnnealingLR}. */
export interface CosineAnnealingOptions {
  /** The initial (maximum) learning rate, PyTorch's `base_lr`. */
  baseLr: number;
  /** Half period in steps (PyTorch's `T_max`). */
  tMax: number;
  /** The minimum learning rate (default 0). */
  etaMin?: number;
  /** An optimizer whose `lr` is set on construction and at every step. */
  optimizer?: HasLearningRate;
}

/** The saved state of a {@linkcode CosineAnnealingLR}. */
export interface CosineAnnealingState {
  /** Steps taken so far (PyTorch's `last_epoch`). */
  lastEpoch: number;
  /** The current learning rate. */
  lr: number;
}

/**
 * PyTorch's `CosineAnnealingLR` in its recursive ("chained") form, step by step as
 * `torch.optim.lr_scheduler.CosineAnnealingLR.get_lr`: periodic, it does not stop at
 * `tMax` (the lr climbs back to `baseLr` at `2·tMax`). The recursion is evaluated in
 * float64 in the same order as PyTorch, so it matches PyTorch's numbers (which drift
 * slightly from the closed form {@linkcode cosineAnnealingClosedForm}).
 *
 * VM-UNet calls `step()` once per epoch: epoch e (1-based) trains with the lr after
 * e − 1 steps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CosineAnnealingLR } from "@vmunet/tensor";
 * const sched = new CosineAnnealingLR({ baseLr: 1e-3, tMax: 50, etaMin: 1e-5 });
 * for (let e = 0; e < 50; e++) sched.step();
 * assert.equal(sched.lr.toExponential(3), "1.000e-5"); // the minimum, epoch 51
 * ```
 */
export class CosineAnnealingLR {
  /** The initial learning rate. */
  readonly baseLr: number;
  /** Half period. */
  readonly tMax: number;
  /** Minimum learning rate. */
  readonly etaMin: number;
  /** The optimizer this schedule drives, if any. */
  readonly optimizer?: HasLearningRate;
  #lastEpoch = 0;
  #lr: number;

  /**
   * Creates the schedule at step 0 with lr = `baseLr`.
   *
   * @param options Base lr, half period, minimum, optimizer.
   * @throws {RangeError} when `tMax` is not a positive integer or `baseLr` is not finite.
   */
  constructor(options: CosineAnnealingOptions) {
    if (!Number.isInteger(options.tMax) || options.tMax <= 0) {
      throw new RangeError(
        `CosineAnnealingLR: tMax must be a positive integer, got ${options.tMax}`,
      );
    }
    if (!Number.isFinite(options.baseLr)) {
      throw new RangeError(`CosineAnnealingLR: baseLr must be finite, got ${options.baseLr}`);
    }
    this.baseLr = options.baseLr;
    this.tMax = options.tMax;
    this.etaMin = options.etaMin ?? 0;
    this.optimizer = options.optimizer;
    this.#lr = this.baseLr;
    if (this.optimizer) this.optimizer.lr = this.#lr;
  }

  /** Steps taken so far. */
  get lastEpoch(): number {
    return this.#lastEpoch;
  }

  /** The current learning rate. */
  get lr(): number {
    return this.#lr;
  }

  /**
   * Advances one step (one epoch in VM-UNet) and sets the optimizer's lr.
   *
   * @returns The new learning rate.
   */
  step(): number {
    const e = ++this.#lastEpoch;
    const t = this.tMax, lr = this.#lr, eta = this.etaMin;
    if ((e - 1 - t) % (2 * t) === 0) {
      this.#lr = lr + (this.baseLr - eta) * (1 - Math.cos(Math.PI / t)) / 2;
    } else {
      this.#lr = (1 + Math.cos(Math.PI * e / t)) / (1 + Math.cos(Math.PI * (e - 1) / t)) *
          (lr - eta) + eta;
    }
    if (this.optimizer) this.optimizer.lr = this.#lr;
    return this.#lr;
  }

  /** The state to save with a checkpoint. */
  state(): CosineAnnealingState {
    return { lastEpoch: this.#lastEpoch, lr: this.#lr };
  }

  /**
   * Restores a saved state (and sets the optimizer's lr).
   *
   * @param state What {@linkcode CosineAnnealingLR.state} returned.
   */
  load(state: CosineAnnealingState): void {
    this.#lastEpoch = state.lastEpoch;
    this.#lr = state.lr;
    if (this.optimizer) this.optimizer.lr = this.#lr;
  }
}

/**
 * The closed form `etaMin + (baseLr − etaMin)·(1 + cos(π·epoch/tMax))/2` (docs/spec.md §8), which
 * the recursive {@linkcode CosineAnnealingLR} follows up to float64 rounding drift.
 *
 * @param baseLr Initial lr.
 * @param tMax Half period.
 * @param etaMin Minimum lr.
 * @param epoch Steps taken.
 * @returns The learning rate.
 */
export function cosineAnnealingClosedForm(
  baseLr: number,
  tMax: number,
  etaMin: number,
  epoch: number,
): number {
  return etaMin + (baseLr - etaMin) * (1 + Math.cos(Math.PI * epoch / tMax)) / 2;
}
