/**
 * Benchmarks of the nn ops beside plain-JS loops on the same data: LayerNorm (VM-UNet's
 * first-stage shape, rows = 4096·B, C = 96) and the SS2D depthwise 3×3 conv
 * (B/2, 64, 64, 192), forward and forward + backward.
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
import { depthwiseConv3x3 } from "./conv_depthwise.ts";
import { layerNorm } from "./layer_norm.ts";

// `deno run -A nn_bench.ts 32` measures VM-UNet's real batch (B = 32) on a big GPU.
const B = Number(import.meta.main && Deno.args[0] ? Deno.args[0] : 2), C = 96, ROWS = 4096 * B;
const DW = [B >> 1 || 1, 64, 64, 192] as const;

/** Plain-JS LayerNorm over rows of c (two passes, float32 storage). */
function jsLayerNorm(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  y: Float32Array,
  c: number,
): void {
  const rows = x.length / c;
  for (let r = 0; r < rows; r++) {
    const o = r * c;
    let s = 0;
    for (let j = 0; j < c; j++) s += x[o + j];
    const mean = s / c;
    let q = 0;
    for (let j = 0; j < c; j++) {
      const d = x[o + j] - mean;
      q += d * d;
    }
    const rstd = 1 / Math.sqrt(q / c + 1e-5);
    for (let j = 0; j < c; j++) y[o + j] = (x[o + j] - mean) * rstd * w[j] + b[j];
  }
}

/** Plain-JS LayerNorm backward (dx, dw, db), recomputing the row statistics. */
function jsLayerNormBackward(
  x: Float32Array,
  w: Float32Array,
  gy: Float32Array,
  dx: Float32Array,
  dw: Float32Array,
  db: Float32Array,
  c: number,
): void {
  const rows = x.length / c;
  dw.fill(0);
  db.fill(0);
  for (let r = 0; r < rows; r++) {
    const o = r * c;
    let s = 0;
    for (let j = 0; j < c; j++) s += x[o + j];
    const mean = s / c;
    let q = 0;
    for (let j = 0; j < c; j++) q += (x[o + j] - mean) ** 2;
    const rstd = 1 / Math.sqrt(q / c + 1e-5);
    let sg = 0, sgx = 0;
    for (let j = 0; j < c; j++) {
      const xh = (x[o + j] - mean) * rstd, g = gy[o + j] * w[j];
      sg += g;
      sgx += g * xh;
      dw[j] += gy[o + j] * xh;
      db[j] += gy[o + j];
    }
    for (let j = 0; j < c; j++) {
      const xh = (x[o + j] - mean) * rstd;
      dx[o + j] = rstd * (gy[o + j] * w[j] - sg / c - xh * sgx / c);
    }
  }
}

/** Plain-JS depthwise 3×3 conv, channels-last, pad 1. */
function jsDepthwise(x: Float32Array, w: Float32Array, bias: Float32Array, y: Float32Array): void {
  const [Bn, H, W, Cc] = DW;
  for (let b = 0; b < Bn; b++) {
    for (let h = 0; h < H; h++) {
      for (let v = 0; v < W; v++) {
        const o = ((b * H + h) * W + v) * Cc;
        for (let c = 0; c < Cc; c++) y[o + c] = bias[c];
        for (let i = 0; i < 3; i++) {
          const hh = h + i - 1;
          if (hh < 0 || hh >= H) continue;
          for (let j = 0; j < 3; j++) {
            const vv = v + j - 1;
            if (vv < 0 || vv >= W) continue;
            const xi = ((b * H + hh) * W + vv) * Cc;
            for (let c = 0; c < Cc; c++) y[o + c] += w[c * 9 + i * 3 + j] * x[xi + c];
          }
        }
      }
    }
  }
}

/** Plain-JS depthwise 3×3 conv backward: dx, dweight (C·9), dbias. */
function jsDepthwiseBackward(
  x: Float32Array,
  w: Float32Array,
  gy: Float32Array,
  dx: Float32Array,
  dw: Float32Array,
  db: Float32Array,
): void {
  const [Bn, H, W, Cc] = DW;
  dx.fill(0);
  dw.fill(0);
  db.fill(0);
  for (let b = 0; b < Bn; b++) {
    for (let h = 0; h < H; h++) {
      for (let v = 0; v < W; v++) {
        const o = ((b * H + h) * W + v) * Cc;
        for (let c = 0; c < Cc; c++) db[c] += gy[o + c];
        for (let i = 0; i < 3; i++) {
          const hh = h + i - 1;
          if (hh < 0 || hh >= H) continue;
          for (let j = 0; j < 3; j++) {
            const vv = v + j - 1;
            if (vv < 0 || vv >= W) continue;
            const xi = ((b * H + hh) * W + vv) * Cc;
            for (let c = 0; c < Cc; c++) {
              dw[c * 9 + i * 3 + j] += gy[o + c] * x[xi + c];
              dx[xi + c] += gy[o + c] * w[c * 9 + i * 3 + j];
            }
          }
        }
      }
    }
  }
}

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
  const y = new Float32Array(n), jdx = new Float32Array(n);
  const jdw = new Float32Array(C), jdb = new Float32Array(C), ydw = new Float32Array(nd);
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
    jsTiming(() => jsLayerNorm(s.cpu.x, s.cpu.w, s.cpu.b, y, C)),
  );
  row(
    "LayerNorm forward + backward (dx, dw, db)",
    lnShape,
    5 * n * 4,
    await gpu(lnForwardBackward(s), 4),
    jsTiming(() => {
      jsLayerNorm(s.cpu.x, s.cpu.w, s.cpu.b, y, C);
      jsLayerNormBackward(s.cpu.x, s.cpu.w, s.cpu.gy, jdx, jdw, jdb, C);
    }),
  );
  row(
    "depthwise conv 3×3 forward",
    `(${DW.join(", ")})`,
    2 * nd * 4,
    await gpu(dwForward(s), 4),
    jsTiming(() => jsDepthwise(s.cpu.dx, s.cpu.dwW, s.cpu.dwB, ydw)),
  );
  const ddx = new Float32Array(nd),
    ddw = new Float32Array(DW[3] * 9),
    ddb = new Float32Array(DW[3]);
  row(
    "depthwise conv 3×3 forward + backward (dx, dw, db)",
    `(${DW.join(", ")})`,
    5 * nd * 4,
    await gpu(dwForwardBackward(s), 2),
    jsTiming(() => {
      jsDepthwise(s.cpu.dx, s.cpu.dwW, s.cpu.dwB, ydw);
      jsDepthwiseBackward(s.cpu.dx, s.cpu.dwW, s.cpu.dx, ddx, ddw, ddb);
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
  const n = ROWS * C;
  const y = new Float32Array(n);
  Deno.bench("LayerNorm (8192, 96) forward, GPU (40 calls, one sync)", async () => {
    for (let i = 0; i < 40; i++) s.engine.scope(lnForward(s));
    await s.engine.sync();
  });
  Deno.bench("LayerNorm (8192, 96) forward, plain JS ×40", () => {
    for (let i = 0; i < 40; i++) jsLayerNorm(s.cpu.x, s.cpu.w, s.cpu.b, y, C);
  });
  Deno.bench("LayerNorm (8192, 96) forward+backward, GPU (10 calls, one sync)", async () => {
    for (let i = 0; i < 10; i++) s.engine.scope(lnForwardBackward(s));
    await s.engine.sync();
  });
}
