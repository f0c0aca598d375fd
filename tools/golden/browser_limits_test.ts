/**
 * The kernels must fit the limits a browser's adapter offers, not only Deno's: a golden model
 * fixture runs forward and backward (and an AdamW step) on a device requested with WebGPU's
 * default limits, raised only where the browsers' adapters do.
 *
 * {@linkcode BROWSER_LIMITS}: `maxStorageBuffersPerShaderStage` 10 — what Chromium's
 * SwiftShader adapter offers (WebGPU's default, which many browsers' adapters keep, is 8;
 * the kernels above 8 are listed in ARCHITECTURE.md, "In a browser"). Every other limit
 * stays at WebGPU's default: the fixture's shapes provably need nothing more (they pass with
 * exactly these limits), so a kernel that starts needing a raised limit fails here.
 *
 * @module
 */

import assert from "node:assert/strict";
import { AdamW, add, Engine, mul, requestGpu, sum } from "@vmunet/tensor";
import { fixturesOf, goldenFixturesAbsent } from "../golden.ts";
import { vmunetRunner } from "./vmunet.ts";

/** The limits requested: WebGPU's defaults except storage buffers per stage (10). */
export const BROWSER_LIMITS: Record<string, number> = { maxStorageBuffersPerShaderStage: 10 };

const ignore = await goldenFixturesAbsent();

for (const adapterClass of ["auto", "gpu"] as const) {
  Deno.test({
    name: `a golden model fixture matches forward and backward under a browser's limits ` +
      `(10 storage buffers per stage, WebGPU defaults otherwise; kernels for ${
        adapterClass === "auto" ? "this adapter" : "a GPU"
      })`,
    ignore,
  }, async () => {
    const paths = await fixturesOf(vmunetRunner);
    const path = paths.find((p) => p.endsWith("vmunet_t16_bin.case.safetensors")) ?? paths[0];
    const report = await vmunetRunner.run(path, { adapterClass, requiredLimits: BROWSER_LIMITS });
    const failed = report.comparisons.filter((c) => !c.ok);
    assert(report.comparisons.length >= 4, `${path}: too few comparisons`);
    assert(
      failed.length === 0,
      `${path}: ${failed.map((c) => `${c.name} ${c.measure} ${c.error} > ${c.bound}`).join("; ")}`,
    );
  });
}

Deno.test("an AdamW step with gradient clipping matches its formula under a browser's limits", async () => {
  const gpu = await requestGpu({ requiredLimits: BROWSER_LIMITS });
  assert.equal(gpu.limits.maxStorageBuffersPerShaderStage, 10);
  const engine = await Engine.create(gpu);
  try {
    // Sizes with only a scalar tail, only vec4s, and both.
    const sizes = [7, 36, 1003];
    const init = sizes.map((n) =>
      Float32Array.from({ length: n }, (_, i) => (i % 2 ? -1 : 1) * (0.1 + (i % 13) / 10))
    );
    const params = init.map((v) => engine.tensor(v, [v.length], { requiresGrad: true }));
    const lr = 0.01, weightDecay = 0.5;
    const opt = new AdamW(params, { lr, weightDecay, maxGradNorm: 1 });
    engine.scope(() => {
      let loss = sum(mul(params[0], params[0]));
      for (const p of params.slice(1)) loss = add(loss, sum(mul(p, p)));
      loss.backward();
    });
    opt.step();
    // First step: the bias-corrected update is g/(|g| + eps) = sign(p) for any positive clip
    // scale of g = 2p; decoupled decay multiplies by 1 − lr·wd.
    for (let k = 0; k < params.length; k++) {
      const got = await params[k].read();
      const want = init[k].map((p) => p * (1 - lr * weightDecay) - lr * Math.sign(p));
      const err = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
      assert(err < 1e-5, `parameter of ${sizes[k]}: max error ${err}`);
    }
    gpu.throwIfFailed();
  } finally {
    await engine.close();
  }
});
