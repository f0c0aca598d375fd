/**
 * Golden runner for the whole model: `NAME.case.safetensors` with `NAME.weights.safetensors`
 * beside it. The configuration comes from the weights' metadata (drop path 0, training
 * mode); the runner loads the weights strictly, runs the input, and compares `logits`,
 * `output`, `loss` and every `grad.<parameter>` with the golden tolerances, and the logits
 * of a second, inference (no-tape) forward.
 *
 * @module
 */

import { Engine, requestGpu, type Tensor } from "@vmunet/tensor";
import { readSafetensors } from "@vmunet/tensor/fs";
import { configFromMetadata, VMUNet } from "@vmunet/vmunet";
import type { FixtureReport, GoldenRunner, RunOptions } from "./runner.ts";
import { compareForward, compareGradient, compareScalar, type Comparison } from "./tolerance.ts";

/** The weights file that belongs to a case file. */
export function weightsPathOf(casePath: string): string {
  return casePath.replace(/\.case\.safetensors$/, ".weights.safetensors");
}

/**
 * Checks one model fixture on the GPU.
 *
 * @param path The `.case.safetensors` file.
 * @param options The adapter class the kernels are chosen for.
 * @returns Every comparison.
 */
export async function runVmunetFixture(
  path: string,
  options: RunOptions = {},
): Promise<FixtureReport> {
  const fixture = path.split("/").pop()!;
  const weightsPath = weightsPathOf(path);
  const weights = await readSafetensors(weightsPath);
  const kase = await readSafetensors(path);
  const config = { ...configFromMetadata(weights.metadata), dropPathRate: 0 };
  const gpu = options.requiredLimits
    ? await requestGpu({ requiredLimits: options.requiredLimits })
    : undefined;
  const engine = await Engine.create(gpu, { adapterClass: options.adapterClass });
  try {
    const model = VMUNet.create(engine, config, { seed: 0 });
    model.loadStateDict(weights.tensors, { strict: true, source: weightsPath });
    const inputEntry = kase.get("input");
    const targetEntry = kase.get("target");
    const input = engine.tensor(kase.float32("input"), inputEntry.shape);
    const target = config.numClasses === 1
      ? engine.tensor(kase.float32("target"), targetEntry.shape)
      : engine.tensor(kase.int32("target"), targetEntry.shape, { dtype: "i32" });
    const result = engine.scope(() => {
      const { logits, output } = model.forward(input, { training: true });
      const loss = model.loss(output, target);
      loss.backward();
      return { logits, output, loss };
    });
    // The inference path (no tape: no checkpoints, Δ projected inside the scan) must give
    // the same logits.
    const inference = engine.scope(() =>
      engine.noGrad(() => model.forward(input, { training: false }).logits)
    );
    const comparisons: Comparison[] = [
      compareForward("logits", await result.logits.read(), kase.float32("logits")),
      compareForward("logits (inference)", await inference.read(), kase.float32("logits")),
      compareForward("output", await result.output.read(), kase.float32("output")),
      compareScalar("loss", (await result.loss.read())[0], kase.float32("loss")[0], 1e-5),
    ];
    const grads = [...kase.tensors.keys()].filter((k) => k.startsWith("grad."));
    for (const key of grads) {
      const name = key.slice("grad.".length);
      const param: Tensor | undefined = model.parameters.get(name);
      if (!param) throw new Error(`${fixture}: ${key} names no parameter of the model`);
      if (!param.grad) throw new Error(`${fixture}: parameter ${name} received no gradient`);
      comparisons.push(compareGradient(key, await param.grad.read(), kase.float32(key)));
    }
    if (grads.length !== model.parameters.size) {
      comparisons.push({
        name: "grad count",
        measure: "exact",
        error: Math.abs(grads.length - model.parameters.size),
        bound: 0,
        ok: false,
      });
    }
    return { fixture, kind: "vmunet", comparisons, ok: comparisons.every((c) => c.ok) };
  } finally {
    await engine.close();
  }
}

/** The `vmunet` runner: files named `*.case.safetensors` (weights found beside them). */
export const vmunetRunner: GoldenRunner = {
  kind: "vmunet",
  matches: (fileName: string): boolean => /\.case\.safetensors$/.test(fileName),
  run: runVmunetFixture,
};
