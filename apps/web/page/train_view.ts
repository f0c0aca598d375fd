/**
 * Training in the page: the default run of `deno task train` (the `synthetic` preset, its
 * data and model) through the same {@linkcode TrainingLoop} as the train app, with live loss
 * and validation-Dice curves and a stop button. The trained model then segments, and its
 * checkpoint (the train app's format, so `deno task predict` reads it) can be saved.
 *
 * @module
 */

import { DataLoader } from "@vmunet/datasets";
import { VMUNet } from "@vmunet/vmunet";
import {
  createOptimization,
  evaluateBatches,
  evaluationDice,
  evaluationLine,
  TrainingLoop,
  type TrainingState,
} from "@vmunet/vmunet/training";
import type { Engine } from "@vmunet/tensor";
import { syntheticData } from "../../train/synthetic_data.ts";
import { modelConfigOf, serializeTrainCheckpoint } from "../../train/checkpoint_format.ts";
import { lineChartSvg } from "../../train/report.ts";
import { predictionSize, resolveConfig, type TrainConfig } from "../../train/train_config.ts";
import type { PageModel } from "./checkpoint.ts";

/** The settings the page lets a user change (the rest is the preset's). */
export type PageTrainSettings = Partial<
  Pick<TrainConfig, "epochs" | "syntheticCount" | "syntheticValCount" | "imageSize" | "dims">
>;

/** The `deno task train` default configuration with the page's changes (no workers). */
export function pageTrainConfig(settings: PageTrainSettings = {}): TrainConfig {
  return resolveConfig("synthetic", settings, { workers: 0 });
}

/** What a run in the page recorded. */
export interface PageTrainHistory {
  /** The last step loss at each readback, with x = epochs done (fractional). */
  losses: [number, number][];
  /** Mean training loss per epoch. */
  epochLoss: [number, number][];
  /** Validation Dice per epoch. */
  dice: [number, number][];
  /** Validation loss per epoch. */
  valLoss: [number, number][];
}

/** Callbacks of {@linkcode trainInPage}. */
export interface TrainViewHooks {
  /** Status text. */
  status(text: string): void;
  /** The curves changed. */
  curves(history: PageTrainHistory): void;
}

/** The result of a run in the page. */
export interface PageTrainResult {
  /** The trained model, ready to segment. */
  model: PageModel;
  /** The checkpoint bytes (the train app's format). */
  checkpoint: Uint8Array;
  /** The curves. */
  history: PageTrainHistory;
  /** Whether the stop button ended it. */
  stopped: boolean;
}

/**
 * Trains the default synthetic run in the page.
 *
 * @param engine The page's engine.
 * @param config The run configuration (from {@linkcode pageTrainConfig}).
 * @param signal The stop button.
 * @param hooks Status and curves.
 * @returns The trained model and its checkpoint.
 */
export async function trainInPage(
  engine: Engine,
  config: TrainConfig,
  signal: AbortSignal,
  hooks: TrainViewHooks,
): Promise<PageTrainResult> {
  const data = syntheticData(config);
  const model = VMUNet.create(engine, modelConfigOf(config), { seed: config.seed });
  const { optimizer, scheduler, state } = createOptimization(model, config);
  const loader = new DataLoader(data.train, {
    batchSize: config.batchSize,
    seed: config.seed,
    shuffle: true,
    workers: 0,
  });
  const valLoader = new DataLoader(data.val, {
    batchSize: config.evalBatchSize,
    shuffle: false,
    workers: 0,
  });
  const history: PageTrainHistory = { losses: [], epochLoss: [], dice: [], valLoss: [] };
  let saved: TrainingState = state;
  const loop = new TrainingLoop({
    model,
    optimizer,
    scheduler,
    loader,
    dataset: data.train,
    state,
    settings: config,
    signal,
    hooks: {
      progress: async (p) => {
        if (p.lossRead) {
          history.losses.push([p.epoch + p.step / p.stepsPerEpoch, p.loss]);
          hooks.curves(history);
        }
        hooks.status(
          `epoch ${p.epoch + 1}/${config.epochs}, step ${p.step}/${p.stepsPerEpoch}, loss ${
            Number.isNaN(p.loss) ? "…" : p.loss.toFixed(4)
          }${p.imagesPerSecond ? `, ${p.imagesPerSecond.toFixed(1)} images/s` : ""}`,
        );
        // Let the browser paint and handle the stop button between steps.
        await new Promise((resolve) => setTimeout(resolve, 0));
      },
      epochEnd: (e) => {
        history.epochLoss.push([e.epoch, e.trainLoss]);
        hooks.curves(history);
      },
      validate: (epoch) => {
        hooks.status(`epoch ${epoch}/${config.epochs}: validating…`);
        return evaluateBatches(model, valLoader.epoch(0), {
          numClasses: config.numClasses,
          total: data.val.length,
          lossWeights: config.lossWeights,
          examples: 0,
        });
      },
      validated: (v) => {
        history.dice.push([v.epoch, evaluationDice(v.evaluation)]);
        history.valLoss.push([v.epoch, v.evaluation.loss]);
        hooks.status(`epoch ${v.epoch}/${config.epochs} ${evaluationLine(v.evaluation)}`);
        hooks.curves(history);
      },
      checkpoint: (c) => {
        saved = c.state;
        return Promise.resolve();
      },
    },
  });
  const outcome = await loop.run();
  const checkpoint = await serializeTrainCheckpoint(model, optimizer, config, saved);
  return {
    model: {
      model,
      source: "trained in this page",
      config: model.config,
      imageSize: config.imageSize,
      sizeNote: predictionSize(config, "this page's run").note,
      trainConfig: config,
      epoch: saved.epoch,
      report: `trained ${saved.globalStep} steps (${saved.epoch} epochs${
        outcome.stopped ? ", stopped" : ""
      }) in ${loop.elapsedSeconds.toFixed(1)} s`,
    },
    checkpoint,
    history,
    stopped: outcome.stopped,
  };
}

/**
 * The loss and validation-Dice charts as SVG (the train report's chart).
 *
 * @param h The curves.
 * @returns Two `<svg>` strings.
 */
export function curvesSvg(h: PageTrainHistory): string {
  return lineChartSvg("Training loss", [
    { name: "train (readbacks)", points: h.losses },
    { name: "epoch mean", points: h.epochLoss },
  ]) +
    lineChartSvg("Validation", [
      { name: "Dice", points: h.dice },
      { name: "loss", points: h.valLoss },
    ]);
}
