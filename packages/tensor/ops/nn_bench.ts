/**
 * Benchmarks of the nn ops beside plain-JS loops on the same data: LayerNorm (VM-UNet's
 * first-stage shape, rows = 4096·B, C = 96) and the SS2D depthwise 3×3 conv
 * (B/2, 64, 64, 192), forward and forward + backward. The plain-JS loops are the float64
 * CPU references of the tests (`reference/nn_ops.ts`).
 *
 * `deno bench -A packages/tensor/ops/nn_bench.ts` runs the micro-benchmarks;
 * `deno run -A packages/tensor/ops/nn_bench.ts [B]` prints the markdown table for
 * BENCHMARKS.md (B = 2 by default): GB/s = minimum bytes moved / time, the ratio to plain JS,
 * and the same per CPU-second of this process (robust to other load on a shared machine).
 *
 * @module
 */

import { cpuMillis, gpuTiming, type Timing } from "../bench/_measure.ts";
import { Engine } from "../engine.ts";
import { randomNormal } from "../rng.ts";
import type { Tensor } from "../tensor.ts";
import {
  depthwiseConv3x3BackwardRef,
  depthwiseConv3x3Ref,
  layerNormBackwardRef,
  layerNormRef,
} from "../reference/nn_ops.ts";
import { depthwiseConv3x3 } from "./conv_depthwise.ts";
import { layerNorm } from "./layer_norm.ts";

// `deno run -A nn_bench.ts 32` measures VM-UNet's real batch (B = 32) on a big GPU.
const B = Number(import.meta.main && Deno.args[0] ? Deno.args[0] : 2), C = 96, ROWS = 4096 * B;
const DW = [B >> 1 || 1, 64, 64, 192] as const;

function f32(n: number, stream: number): Float32Array {
  return Float32Array.from(randomNormal(5, stream, n));
}

/** Wall-clock and process-CPU milliseconds per call: best of 3 rounds of ≥ 300 ms. */
function jsTiming(body: () => void, minMillis = 300): Timing {
  body();
  let best: Timing = { wall: Infinity, cpu: Infinity };
  for (let r = 0; r < 3; r++) {
    let runs = 0;
    const c0 = cpuMillis(), t0 = performance.now();
    do {
      body();
      runs++;
    } while (performance.now() - t0 < minMillis);
    const wall = (performance.now() - t0) / runs, cpu = (cpuMillis() - c0) / runs;
    if (wall < best.wall) best = { wall, cpu };
  }
  return best;
}

interface Setup {
  engine: Engine;
  x: Tensor;
  w: Tensor;
  b: Tensor;
  gy: Tensor;
  dx: Tensor;
  dwW: Tensor;
  dwB: Tensor;
  cpu: Record<string, Float32Array>;
}

async function setup(): Promise<Setup> {
  const engine = await Engine.create();
  const n = ROWS * C, nd = DW.reduce((a: number, b: number) => a * b, 1);
  const cpu = {
    x: f32(n, 0),
    w: f32(C, 1),
    b: f32(C, 2),
    gy: f32(n, 3),
    dx: f32(nd, 4),
    dwW: f32(DW[3] * 9, 5),
    dwB: f32(DW[3], 6),
  };
  return {
    engine,
    x: engine.keep(engine.tensor(cpu.x, [ROWS, C], { requiresGrad: true })),
    w: engine.parameter(cpu.w, [C], "w"),
    b: engine.parameter(cpu.b, [C], "b"),
    gy: engine.keep(engine.tensor(cpu.gy, [ROWS, C])),
    dx: engine.keep(engine.tensor(cpu.dx, [...DW], { requiresGrad: true })),
    dwW: engine.parameter(cpu.dwW, [DW[3], 1, 3, 3], "dw.weight"),
    dwB: engine.parameter(cpu.dwB, [DW[3]], "dw.bias"),
    cpu,
  };
}

function lnForward(s: Setup): () => void {
  return () => {
    s.engine.noGrad(() => layerNorm(s.x, s.w, s.b, 1e-5));
  };
}

function lnForwardBackward(s: Setup): () => void {
  return () => {
    layerNorm(s.x, s.w, s.b, 1e-5).backward(s.gy);
    for (const t of [s.x, s.w, s.b]) {
      t.grad?.dispose();
      t.grad = null;
    }
  };
}

function dwForward(s: Setup): () => void {
  return () => {
    s.engine.noGrad(() => depthwiseConv3x3(s.dx, s.dwW, s.dwB));
  };
}

function dwForwardBackward(s: Setup): () => void {
  return () => {
    depthwiseConv3x3(s.dx, s.dwW, s.dwB).backward(s.dx);
    for (const t of [s.dx, s.dwW, s.dwB]) {
      t.grad?.dispose();
      t.grad = null;
    }
  };
}

if (import.meta.main) {
  const s = await setup();
  const n = ROWS * C, nd = DW.reduce((a: number, b: number) => a * b, 1);
  const { x, w, b, gy, dx, dwW, dwB } = s.cpu;
  const rows: string[] = [];
  const row = (what: string, shape: string, bytes: number, gpu: Timing, js: Timing) => {
    const gbs = (ms: number) => (bytes / ms / 1e6).toFixed(2);
    rows.push(
      `| ${what} | ${shape} | ${gpu.wall.toFixed(3)} | ${gbs(gpu.wall)} | ${js.wall.toFixed(3)} | ${
        gbs(js.wall)
      } | ${(js.wall / gpu.wall).toFixed(1)}× | ${gbs(gpu.cpu)} | ${gbs(js.cpu)} | ${
        (js.cpu / gpu.cpu).toFixed(1)
      }× |`,
    );
  };
  const gpu = (body: () => void, iters: number) =>
    gpuTiming(s.engine, () => s.engine.scope(body), iters);
  const lnShape = `(${ROWS}, ${C})`;
  row(
    "LayerNorm forward",
    lnShape,
    2 * n * 4,
    await gpu(lnForward(s), 8),
    jsTiming(() => layerNormRef(x, C, w, b, 1e-5)),
  );
  row(
    "LayerNorm forward + backward (dx, dw, db)",
    lnShape,
    5 * n * 4,
    await gpu(lnForwardBackward(s), 4),
    jsTiming(() => {
      layerNormRef(x, C, w, b, 1e-5);
      layerNormBackwardRef(x, C, w, 1e-5, gy);
    }),
  );
  row(
    "depthwise conv 3×3 forward",
    `(${DW.join(", ")})`,
    2 * nd * 4,
    await gpu(dwForward(s), 4),
    jsTiming(() => depthwiseConv3x3Ref(dx, DW, dwW, dwB)),
  );
  row(
    "depthwise conv 3×3 forward + backward (dx, dw, db)",
    `(${DW.join(", ")})`,
    5 * nd * 4,
    await gpu(dwForwardBackward(s), 2),
    jsTiming(() => {
      depthwiseConv3x3Ref(dx, DW, dwW, dwB);
      depthwiseConv3x3BackwardRef(dx, DW, dwW, dx);
    }),
  );
  const info = s.engine.gpu.adapterInfo;
  console.log(
    `Adapter: ${info.description || info.device} (${info.vendor}), Deno ${Deno.version.deno}`,
  );
  console.log(
    "| op | shape | GPU ms | GPU GB/s | plain JS ms | JS GB/s | GPU / JS | GPU GB per CPU-s | " +
      "JS GB per CPU-s | ratio per CPU-s |\n|---|---|---|---|---|---|---|---|---|---|",
  );
  console.log(rows.join("\n"));
  s.engine.destroy();
} else {
  const s = await setup();
  Deno.bench("LayerNorm (8192, 96) forward, GPU (40 calls, one sync)", async () => {
    for (let i = 0; i < 40; i++) s.engine.scope(lnForward(s));
    await s.engine.sync();
  });
  Deno.bench("LayerNorm (8192, 96) forward, plain JS ×40", () => {
    for (let i = 0; i < 40; i++) layerNormRef(s.cpu.x, C, s.cpu.w, s.cpu.b, 1e-5);
  });
  Deno.bench("LayerNorm (8192, 96) forward+backward, GPU (10 calls, one sync)", async () => {
    for (let i = 0; i < 10; i++) s.engine.scope(lnForwardBackward(s));
    await s.engine.sync();
  });
}
