/**
 * `deno bench packages/tensor/matmul_bench.ts`: matmul on 1024³ and VM-UNet's shapes with
 * the engine's default kernel, each beside a plain-JS loop (baseline) in the same group;
 * and element-wise add beside a JS loop. The full table with every kernel variant:
 * `deno run -A packages/tensor/bench/tensor_table.ts`.
 *
 * @module
 */

import { Engine } from "./engine.ts";
import { matmulKernel } from "./ops/matmul.ts";
import { add } from "./ops/elementwise.ts";
import { jsMatmul } from "./bench/_measure.ts";

const engine = await Engine.create();
const SHAPES: [number, number, number][] = [
  [1024, 1024, 1024],
  [4096, 384, 96],
  [1024, 768, 384],
  [64, 768, 1536],
];

for (const [m, n, k] of SHAPES) {
  const group = `matmul ${m}x${k} · ${k}x${n}`;
  const ha = new Float32Array(m * k).map(() => Math.random());
  const hb = new Float32Array(k * n).map(() => Math.random());
  const hc = new Float32Array(m * n);
  const a = engine.keep(engine.tensor(ha, [m, k]));
  const b = engine.keep(engine.tensor(hb, [k, n]));
  Deno.bench(`plain JS loop ${group}`, { group, baseline: true, n: 3, warmup: 1 }, () => {
    jsMatmul(ha, hb, hc, m, n, k);
  });
  Deno.bench(`GPU ${engine.matmulVariant} ${group}`, { group, n: 5, warmup: 1 }, async () => {
    engine.scope(() => {
      matmulKernel(engine, a, b);
    });
    await engine.sync();
  });
}

{
  const n = 1 << 22;
  const group = "add 4M f32";
  const hx = new Float32Array(n).map(() => Math.random());
  const hy = new Float32Array(n).map(() => Math.random());
  const hz = new Float32Array(n);
  const x = engine.keep(engine.tensor(hx, [n]));
  const y = engine.keep(engine.tensor(hy, [n]));
  Deno.bench("plain JS add 4M f32", { group, baseline: true, n: 10, warmup: 2 }, () => {
    for (let i = 0; i < n; i++) hz[i] = hx[i] + hy[i];
  });
  Deno.bench("GPU add 4M f32 (10 dispatches per sync)", { group, n: 10, warmup: 2 }, async () => {
    engine.scope(() => {
      for (let i = 0; i < 10; i++) add(x, y);
    });
    await engine.sync();
  });
}
