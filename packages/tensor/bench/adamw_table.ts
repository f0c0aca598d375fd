/**
 * Times `AdamW.step()` on a parameter set shaped like vmunet-s (the 222 tensors of
 * `parameterSpecs(preset("vmunet-s"))`, 27,427,561 elements) beside the kernels it replaced
 * (`_adamw_baseline.ts`), in the same run, with and without gradient clipping; prints a
 * Markdown table of wall-clock and process-CPU milliseconds per step and GB/s.
 *
 * Each round records `--steps` steps of one case and waits once; cases alternate inside every
 * round so load drift on a shared machine hits all of them; the fastest round counts.
 *
 * Usage: `deno run -A packages/tensor/bench/adamw_table.ts [--steps 3] [--rounds 3]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Engine } from "../engine.ts";
import { AdamW, type AdamWKernelOptions } from "../adamw.ts";
import type { Tensor } from "../tensor.ts";
import { type BaselineSlot, baselineStep } from "./_adamw_baseline.ts";
import { cpuMillis } from "./_measure.ts";

// Shapes of vmunet-s's parameters in state-dict order (patch embed, VSS blocks with x_proj,
// dt_projs, A_logs, Ds, in_proj, conv2d, norms, out_proj; patch merging/expanding; head).
const VMUNET_S = `
  96x3x4x4 96 96 96 96 96 4x38x192 4x192x6 4x192 768x16 768 384x96 192x1x3x3 192 192 192
  96x192 96 96 4x38x192 4x192x6 4x192 768x16 768 384x96 192x1x3x3 192 192 192 96x192
  192x384 384 384 192 192 4x44x384 4x384x12 4x384 1536x16 1536 768x192 384x1x3x3 384 384
  384 192x384 192 192 4x44x384 4x384x12 4x384 1536x16 1536 768x192 384x1x3x3 384 384 384
  192x384 384x768 768 768 384 384 4x56x768 4x768x24 4x768 3072x16 3072 1536x384 768x1x3x3
  768 768 768 384x768 384 384 4x56x768 4x768x24 4x768 3072x16 3072 1536x384 768x1x3x3 768
  768 768 384x768 768x1536 1536 1536 768 768 4x80x1536 4x1536x48 4x1536 6144x16 6144
  3072x768 1536x1x3x3 1536 1536 1536 768x1536 768 768 4x80x1536 4x1536x48 4x1536 6144x16
  6144 3072x768 1536x1x3x3 1536 1536 1536 768x1536 768 768 4x80x1536 4x1536x48 4x1536
  6144x16 6144 3072x768 1536x1x3x3 1536 1536 1536 768x1536 768 768 4x80x1536 4x1536x48
  4x1536 6144x16 6144 3072x768 1536x1x3x3 1536 1536 1536 768x1536 384 384 4x56x768
  4x768x24 4x768 3072x16 3072 1536x384 768x1x3x3 768 768 768 384x768 384 384 4x56x768
  4x768x24 4x768 3072x16 3072 1536x384 768x1x3x3 768 768 768 384x768 1536x768 384 384 192
  192 4x44x384 4x384x12 4x384 1536x16 1536 768x192 384x1x3x3 384 384 384 192x384 192 192
  4x44x384 4x384x12 4x384 1536x16 1536 768x192 384x1x3x3 384 384 384 192x384 768x384 192
  192 96 96 4x38x192 4x192x6 4x192 768x16 768 384x96 192x1x3x3 192 192 192 96x192 384x192
  96 96 384x96 24 24 1x24x1x1 1
`.trim().split(/\s+/).map((s) => s.split("x").map(Number));

const { values } = parseArgs({
  args: Deno.args,
  options: { steps: { type: "string" }, rounds: { type: "string" } },
  strict: true,
});
const steps = Number(values.steps ?? 3);
const rounds = Number(values.rounds ?? 3);

const engine = await Engine.create();
const info = engine.gpu.adapterInfo;
const elements = VMUNET_S.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
console.log(
  `Adapter: ${info.description || info.device} (fallback ${info.isFallbackAdapter}); ` +
    `${VMUNET_S.length} tensors, ${elements} elements; ${steps} steps per round, ` +
    `${rounds} rounds; load average ${Deno.loadavg().map((v) => v.toFixed(2)).join(" ")}; ` +
    new Date().toISOString(),
);

// Parameters and gradients are shared by every case (each has its own moments); the values
// stay in a normal range over the few steps timed.
const params: Tensor[] = VMUNET_S.map((shape, i) => {
  const p = engine.keep(engine.full(shape, 0.02 * Math.sin(i + 1)));
  p.requiresGrad = true;
  p.grad = engine.keep(engine.full(shape, 1e-3 * Math.cos(i + 1)));
  return p;
});
const baseline: BaselineSlot[] = params.map((param) => ({
  param,
  m: engine.keep(engine.zeros(param.shape)),
  v: engine.keep(engine.zeros(param.shape)),
  step: 0,
}));

interface Case {
  name: string;
  clip: boolean;
  run: () => void;
}
const lr = 1e-4, weightDecay = 1e-2;
const cases: Case[] = [];
const variant = (name: string, kernel: AdamWKernelOptions) => {
  for (const clip of [false, true]) {
    const opt = new AdamW(params, {
      lr,
      weightDecay,
      maxGradNorm: clip ? 1 : undefined,
      kernel,
    });
    cases.push({ name, clip, run: () => opt.step() });
  }
};
for (const clip of [false, true]) {
  cases.push({
    name: "before: scalar, 1 element per invocation (baseline)",
    clip,
    run: () => baselineStep(engine, baseline, lr, weightDecay, clip ? 1 : undefined),
  });
}
variant("vec4, 1 vector per invocation (default)", {});
// The same elements as one tensor: what fusing the 222 dispatches could save at most.
const single = engine.keep(engine.full([elements], 0.01));
single.requiresGrad = true;
single.grad = engine.keep(engine.full([elements], 1e-3));
for (const clip of [false, true]) {
  const opt = new AdamW([single], { lr, weightDecay, maxGradNorm: clip ? 1 : undefined });
  cases.push({
    name: "default, all elements in one tensor (1 dispatch)",
    clip,
    run: () => opt.step(),
  });
}
variant("vec4, 4 vectors per invocation", { vectorsPerInvocation: 4 });
variant("scalar, uniforms hoisted (vectorWidth 1)", { vectorWidth: 1 });

interface Best {
  wall: number;
  cpu: number;
}
const best = new Map<Case, Best>();
for (const c of cases) {
  c.run();
  await engine.sync();
}
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const c0 = cpuMillis(), t0 = performance.now();
    for (let i = 0; i < steps; i++) c.run();
    await engine.sync();
    const wall = (performance.now() - t0) / steps, cpu = (cpuMillis() - c0) / steps;
    const b = best.get(c);
    if (!b || wall < b.wall) best.set(c, { wall, cpu });
  }
}

const rows = [
  "| kernels | clip | ms / step | CPU ms / step | GB/s | ratio to baseline | ratio per CPU-s |",
  "| ------- | ---- | --------- | ------------- | ---- | ----------------- | --------------- |",
];
for (const clip of [false, true]) {
  const base = best.get(cases.find((c) => c.clip === clip)!)!;
  // p, m, v read and written, g read: 7 × 4 bytes per element; the norm reads g once more.
  const bytes = (clip ? 8 : 7) * 4 * elements;
  for (const c of cases.filter((c) => c.clip === clip)) {
    const b = best.get(c)!;
    rows.push(
      `| ${c.name} | ${clip ? "1.0" : "—"} | ${b.wall.toFixed(1)} | ${b.cpu.toFixed(1)} | ${
        (bytes / (b.wall * 1e6)).toFixed(2)
      } | ${(base.wall / b.wall).toFixed(2)}× | ${(base.cpu / b.cpu).toFixed(2)}× |`,
    );
  }
}
console.log(rows.join("\n"));
const stats = engine.stats();
console.log(`dispatches recorded: ${stats.dispatches}, submits: ${stats.submits}`);
await engine.close();
