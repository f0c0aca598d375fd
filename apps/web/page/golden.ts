/**
 * The golden model fixtures run inside the page (the browser tests call it): the weights'
 * metadata gives the configuration, the case's input goes through the forward in training
 * mode (the fixtures' mode, drop path 0) and in inference mode; the logits come back for the
 * test to compare with the fixture's.
 *
 * @module
 */

import { parseSafetensors } from "@vmunet/tensor/safetensors";
import { configFromMetadata, VMUNet } from "@vmunet/vmunet";
import { disposeModel } from "./checkpoint.ts";
import { getEngine } from "./gpu.ts";

/** Logits of a fixture computed in the page. */
export interface GoldenLogits {
  /** Training-mode forward (with the tape), `(B, nc, H, W)` flattened. */
  training: number[];
  /** Inference forward (no tape). */
  inference: number[];
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * Runs a model fixture's forward in the page.
 *
 * @param weightsUrl URL of `NAME.weights.safetensors`.
 * @param caseUrl URL of `NAME.case.safetensors`.
 * @returns The logits of both forwards.
 */
export async function goldenLogits(weightsUrl: string, caseUrl: string): Promise<GoldenLogits> {
  const engine = await getEngine();
  const weights = parseSafetensors(await fetchBytes(weightsUrl), weightsUrl);
  const kase = parseSafetensors(await fetchBytes(caseUrl), caseUrl);
  const config = { ...configFromMetadata(weights.metadata), dropPathRate: 0 };
  const model = VMUNet.create(engine, config, { seed: 0 });
  try {
    model.loadStateDict(weights.tensors, { strict: true, source: weightsUrl });
    const input = engine.tensor(kase.float32("input"), kase.get("input").shape);
    const training = engine.scope(() => model.forward(input, { training: true }).logits);
    const inference = engine.scope(() =>
      engine.noGrad(() => model.forward(input, { training: false }).logits)
    );
    const result = {
      training: Array.from(await training.read()),
      inference: Array.from(await inference.read()),
    };
    for (const t of [input, training, inference]) t.dispose();
    return result;
  } finally {
    disposeModel(model);
  }
}
