/**
 * What a training run says about itself: the lines it starts with (adapter, model, protocol)
 * and the summary table at the top of its report.
 *
 * @module
 */

import type { Engine } from "@vmunet/tensor";
import type { VMUNetConfig } from "@vmunet/vmunet";
import type { TrainingState } from "@vmunet/vmunet/training";
import { describeData, type RunData } from "./data.ts";
import type { TrainConfig } from "./train_config.ts";

function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** The GPU adapter's name, marked when it is a software (fallback) adapter. */
export function adapterLine(engine: Engine): string {
  const a = engine.gpu.adapterInfo;
  const name = a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(" ");
  return `${name || "unknown adapter"}${a.isFallbackAdapter ? " (software adapter)" : ""}`;
}

/** The model's architecture and size: `vmunet dims 8 depths … : 1,234 parameters (…)`. */
export function modelLine(c: TrainConfig, modelConfig: VMUNetConfig, params: number): string {
  const dims = typeof modelConfig.dims === "number" ? modelConfig.dims : modelConfig.dims[0];
  return `${c.model} dims ${dims} depths ${modelConfig.depths} / ${modelConfig.depthsDecoder}` +
    ` d_state ${modelConfig.dState}, ${modelConfig.numClasses} class(es): ${
      formatCount(params)
    } parameters (${(params * 4 / 2 ** 20).toFixed(1)} MiB)`;
}

/** The training protocol: epochs × steps, optimizer, schedule, loss, seed, selection. */
export function protocolLine(c: TrainConfig, stepsPerEpoch: number): string {
  return `${c.epochs} epochs × ${stepsPerEpoch} steps, batch ${c.batchSize}, AdamW lr ${c.lr} ` +
    `wd ${c.weightDecay}, cosine T_max ${c.tMax} → ${c.etaMin}, ${
      c.numClasses === 1 ? "BceDice" : "CeDice"
    } ${c.lossWeights.join(":")}, drop path ${c.dropPath}, seed ${c.seed}, best by ${c.selection}`;
}

/** The report's summary table: adapter, model, data, epochs done, selection, best epoch. */
export function reportSummary(
  c: TrainConfig,
  engine: Engine,
  parameterCount: number,
  data: RunData,
  state: TrainingState,
): Record<string, string> {
  const best = state.best;
  return {
    adapter: adapterLine(engine),
    model: `${c.model} (${formatCount(parameterCount)} parameters)`,
    data: describeData(c, data),
    epochs: `${state.epoch} of ${c.epochs}`,
    selection: c.selection,
    best: best ? `epoch ${best.epoch}: ${best.metric} ${best.value.toFixed(4)}` : "—",
  };
}
