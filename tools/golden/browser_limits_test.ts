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
import { preset, VMUNet } from "@vmunet/vmunet";
import { fixturesOf } from "../golden.ts";
import { vmunetRunner } from "./vmunet.ts";

/** The limits requested: WebGPU's defaults except storage buffers per stage (10). */
export const BROWSER_LIMITS: Record<string, number> = { maxStorageBuffersPerShaderStage: 10 };

/**
 * Kernels outside the scan allowed above WebGPU's default of 8 storage buffers, with their
 * count (digits in labels read `#`). A kernel that goes above 8 must be added here (and to
 * ARCHITECTURE.md); none may go above 10.
 */
const ABOVE_DEFAULT: Record<string, number> = { "ss#d.gated_norm.bwd_yz.#.sg#": 9 };

/**
 * Main's scan kernels (ssm-kernel, owned by the scan work) still bind 13 storage buffers in
 * the cross-scan backward, so the whole model cannot run under 10 yet: the two fixture tests
 * below are ignored until the scan branch (every scan kernel ≤ 9) lands, then this is set to
 * false. Verified: with that branch merged (its commit 9e57852) both pass on lavapipe.
 */
const SCAN_ABOVE_BROWSER_LIMIT = true;

for (const adapterClass of ["auto", "gpu"] as const) {
  Deno.test({
    name: `a golden model fixture matches forward and backward under a browser's limits ` +
      `(10 storage buffers per stage, WebGPU defaults otherwise; kernels for ${
        adapterClass === "auto" ? "this adapter" : "a GPU"
      })`,
    ignore: SCAN_ABOVE_BROWSER_LIMIT,
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

Deno.test("every kernel outside the scan binds at most 10 storage buffers, and only the listed ones more than 8", async () => {
  const gpu = await requestGpu();
  const device = gpu.device;
  // Count the storage buffers of every compute pipeline the model and AdamW create.
  const perLayout = new WeakMap<GPUBindGroupLayout, number>();
  const perPipelineLayout = new WeakMap<GPUPipelineLayout, number>();
  const counts = new Map<string, number>();
  const createBindGroupLayout = device.createBindGroupLayout.bind(device);
  device.createBindGroupLayout = (d) => {
    const layout = createBindGroupLayout(d);
    const n = [...d.entries].filter((e) => e.buffer && e.buffer.type !== "uniform").length;
    perLayout.set(layout, n);
    return layout;
  };
  const createPipelineLayout = device.createPipelineLayout.bind(device);
  device.createPipelineLayout = (d) => {
    const layout = createPipelineLayout(d);
    const n = [...d.bindGroupLayouts].reduce((a, l) => a + (l ? perLayout.get(l) ?? 0 : 0), 0);
    perPipelineLayout.set(layout, n);
    return layout;
  };
  const createComputePipeline = device.createComputePipeline.bind(device);
  device.createComputePipeline = (d) => {
    const label = (d.label ?? "").replace(/[0-9]+/g, "#");
    assert(d.layout !== "auto", `${label}: an "auto" layout is not counted`);
    counts.set(label, Math.max(counts.get(label) ?? 0, perPipelineLayout.get(d.layout) ?? NaN));
    return createComputePipeline(d);
  };
  // The kernels chosen for this adapter (those chosen for a GPU take over a minute to compile
  // on lavapipe; the golden fixture tests above run them under the limits once the scan fits).
  for (const numClasses of [1, 3]) {
    const engine = await Engine.create(gpu);
    const model = VMUNet.create(engine, preset("vmunet-t", { dims: 8, numClasses }), {
      seed: 1,
    });
    const opt = new AdamW([...model.parameters.values()], { lr: 1e-3, maxGradNorm: 1 });
    engine.scope(() => {
      const input = engine.full([1, 3, 32, 32], 0.5);
      const target = numClasses === 1
        ? engine.zeros([1, 1, 32, 32])
        : engine.zeros([1, 32, 32], { dtype: "i32" });
      const { output } = model.forward(input, { training: true });
      model.loss(output, target).backward();
    });
    opt.step();
    engine.scope(() => engine.noGrad(() => model.forward(engine.zeros([1, 3, 32, 32]), {})));
    await engine.sync();
  }
  gpu.throwIfFailed();
  await gpu.close();
  const scan = /^(CrossScan|SelectiveScan)/;
  const kernels = [...counts].filter(([label]) => !scan.test(label));
  assert(kernels.length > 40, `only ${kernels.length} kernels seen`);
  const above = Object.fromEntries(kernels.filter(([, n]) => !(n <= 8)));
  assert.deepEqual(above, ABOVE_DEFAULT);
});
