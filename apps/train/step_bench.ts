/**
 * Training-step throughput of the `synthetic` preset's model (what `deno task train` runs with
 * no flags) at its image size and at twice that size, batch 8: images per second of a whole
 * step (upload, forward, BceDice, backward, AdamW), median of rounds of steps each ended by one
 * GPU sync (the train loop syncs only every `logEvery` steps). The adapter is named.
 *
 * `deno run -A apps/train/step_bench.ts [--steps 8] [--rounds 3]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { AdamW, bceDiceLoss, Engine } from "@vmunet/tensor";
import { generateSyntheticSample } from "@vmunet/datasets";
import { VMUNet } from "@vmunet/vmunet";
import { modelConfigOf } from "./model_io.ts";
import { resolveConfig } from "./train_config.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { steps: { type: "string" }, rounds: { type: "string" }, batch: { type: "string" } },
  strict: true,
});
const steps = Number(values.steps ?? 8);
const rounds = Number(values.rounds ?? 3);
const batch = Number(values.batch ?? 8);

const config = resolveConfig("synthetic", {});
const engine = await Engine.create();
const a = engine.gpu.adapterInfo;
console.log(`adapter: ${a.description || a.device}${a.isFallbackAdapter ? " (software)" : ""}`);
console.log(`load average at start: ${Deno.loadavg().map((v) => v.toFixed(2)).join(" ")}`);
const rows: string[] = [];
let base = 0;
for (const size of [config.imageSize, 2 * config.imageSize]) {
  const model = VMUNet.create(engine, modelConfigOf({ ...config, imageSize: size }), { seed: 1 });
  const opt = new AdamW([...model.parameters.values()], { lr: config.lr });
  const images = new Float32Array(batch * 3 * size * size);
  const masks = new Float32Array(batch * size * size);
  for (let b = 0; b < batch; b++) {
    const s = generateSyntheticSample(42, b, size);
    images.set(s.image, b * 3 * size * size);
    masks.set(s.mask as Float32Array, b * size * size);
  }
  const step = () =>
    engine.scope(() => {
      const x = engine.tensor(images, [batch, 3, size, size]);
      const y = engine.tensor(masks, [batch, 1, size, size]);
      const loss = bceDiceLoss(model.forward(x, { training: true }).output, y);
      loss.backward();
      opt.step();
      opt.zeroGrad();
    });
  step();
  step();
  await engine.sync();
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step();
    await engine.sync();
    times.push((performance.now() - t0) / steps);
  }
  times.sort((x, y) => x - y);
  const ms = times[Math.floor(times.length / 2)];
  const ips = (batch * 1000) / ms;
  if (base === 0) base = ips;
  rows.push(
    `| ${size}×${size} | ${batch} | ${ms.toFixed(0)} ms | ${ips.toFixed(1)} | ${
      (ips / base).toFixed(2)
    }× |`,
  );
  opt.dispose();
}
console.log(`synthetic preset model, ${
  new Intl.NumberFormat("en-US").format(
    VMUNet.create(engine, modelConfigOf(config)).parameterCount,
  )
} parameters; median of ${rounds} rounds of ${steps} steps`);
console.log("| image | batch | ms/step | images/s | vs preset size |");
console.log("|---|---|---|---|---|");
for (const r of rows) console.log(r);
await engine.close();
