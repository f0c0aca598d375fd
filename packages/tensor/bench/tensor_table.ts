/**
 * Prints the tensor engine's speed table (Markdown): matmul GFLOP/s of every kernel variant
 * on 1024³ and VM-UNet's shapes beside a plain-JS loop measured in the same run, element-wise
 * add GB/s beside a JS loop, and the per-dispatch cost of the params ring versus a uniform
 * buffer per dispatch.
 *
 * Usage: `deno run -A packages/tensor/bench/tensor_table.ts`
 *
 * @module
 */

import { Engine, grid1d } from "../engine.ts";
import { matmulKernel, type MatmulVariant } from "../ops/matmul.ts";
import { add } from "../ops/elementwise.ts";
import { cpuMillis, gpuTiming, jsMatmulTiming } from "./_measure.ts";

const engine = await Engine.create();
const info = engine.gpu.adapterInfo;
console.log(
  `Adapter: ${
    info.description || info.device
  } (vendor ${info.vendor}, fallback ${info.isFallbackAdapter}); ` +
    `engine default matmul family: ${engine.matmulVariant}; ${new Date().toISOString()}`,
);

const VARIANTS: [string, MatmulVariant][] = [
  ["register 4×4, wg 8×8 (calibration kernel; GPU default)", {
    kind: "register",
    tm: 4,
    tn: 4,
    wx: 8,
    wy: 8,
  }],
  ["register 8×8, wg 8×8", { kind: "register", tm: 8, tn: 8, wx: 8, wy: 8 }],
  ["register 16×16, wg 16×1", { kind: "register", tm: 16, tn: 16, wx: 16, wy: 1 }],
  ["register 32×16, wg 16×1", { kind: "register", tm: 32, tn: 16, wx: 16, wy: 1 }],
  ["register 32×32, wg 8×1", { kind: "register", tm: 32, tn: 32, wx: 8, wy: 1 }],
  ["shared 64×64×16, 4×4/inv. (tiled default)", {
    kind: "shared",
    tm: 4,
    tn: 4,
    wx: 16,
    wy: 16,
    bk: 16,
  }],
  ["shared 128×128×8, 8×8/inv.", { kind: "shared", tm: 8, tn: 8, wx: 16, wy: 16, bk: 8 }],
  ["scalar 4×4 (fallback)", "scalar"],
  ["engine default (auto)", "auto"],
];
const SHAPES: [number, number, number][] = [
  [1024, 1024, 1024],
  [4096, 384, 96],
  [1024, 768, 384],
  [64, 768, 1536],
];

// Per shape: the JS baseline first, then every variant, so load drift on a shared machine
// hits baseline and kernels alike.
const fmt = (g: number, base: number) => `${g.toFixed(1)} (${(g / base).toFixed(1)}×)`;
const wallRows: string[][] = [
  ["plain JS i-k-j loop (baseline)"],
  ...VARIANTS.map(([name]) => [name]),
];
const cpuRows: string[][] = [
  ["plain JS i-k-j loop (baseline)"],
  ...VARIANTS.map(([name]) => [name]),
];
for (const [m, n, k] of SHAPES) {
  const flop = 2 * m * n * k / 1e6;
  const js = jsMatmulTiming(m, n, k);
  const jsWall = flop / js.wall, jsCpu = flop / js.cpu;
  wallRows[0].push(`${jsWall.toFixed(2)} GFLOP/s`);
  cpuRows[0].push(`${jsCpu.toFixed(2)}`);
  const a = engine.tensor(new Float32Array(m * k).map(() => Math.random()), [m, k]);
  const b = engine.tensor(new Float32Array(k * n).map(() => Math.random()), [k, n]);
  for (let v = 0; v < VARIANTS.length; v++) {
    const t = await gpuTiming(
      engine,
      () => engine.scope(() => void matmulKernel(engine, a, b, {}, VARIANTS[v][1])),
      m * n * k > 5e8 ? 2 : 6,
    );
    wallRows[v + 1].push(fmt(flop / t.wall, jsWall));
    cpuRows[v + 1].push(fmt(flop / t.cpu, jsCpu));
  }
  a.dispose();
  b.dispose();
}
const header = ["kernel", ...SHAPES.map(([m, n, k]) => `(${m},${k})·(${k},${n})`)];
const printTable = (rows: string[][]) => {
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => "---").join("|")}|`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
};
console.log("\n### Matmul, GFLOP/s wall-clock (ratio to the plain-JS loop of the same run)\n");
printTable(wallRows);
if (engine.isCpuAdapter) {
  console.log(
    "\n### Matmul, GFLOP per CPU-second of this process (all threads; robust to other load)\n",
  );
  printTable(cpuRows);
}

// Element-wise add: bytes moved = 3 × 4 bytes per element.
console.log("\n### Element-wise add, GB/s (3 × 4 bytes per element)\n");
console.log("| case | GPU | plain JS | ratio | GPU per CPU-s | JS per CPU-s | ratio per CPU-s |");
console.log("|---|---|---|---|---|---|---|");
for (
  const [label, sa, sb] of [
    ["same shape 4M (vec4 path)", [1 << 22], [1 << 22]],
    ["broadcast (4096, 1024) + (1024)", [4096, 1024], [1024]],
  ] as [string, number[], number[]][]
) {
  const n = sa.reduce((p, d) => p * d, 1);
  const x = engine.tensor(new Float32Array(n).map(() => Math.random()), sa);
  const y = engine.tensor(
    new Float32Array(sb.reduce((p, d) => p * d, 1)).map(() => Math.random()),
    sb,
  );
  const t = await gpuTiming(engine, () => engine.scope(() => void add(x, y)), 10);
  const hx = new Float32Array(n).map(() => Math.random()), hz = new Float32Array(n);
  const hy = new Float32Array(sb.reduce((p, d) => p * d, 1)).map(() => Math.random());
  const bl = hy.length;
  let best = Infinity, bestCpu = Infinity;
  for (let r = 0; r < 5; r++) {
    const c0 = cpuMillis(), t0 = performance.now();
    for (let i = 0; i < n; i++) hz[i] = hx[i] + hy[i % bl];
    const wall = performance.now() - t0;
    if (wall < best) [best, bestCpu] = [wall, cpuMillis() - c0];
  }
  const gbs = (ms: number) => (12 * n) / ms / 1e6;
  console.log(
    `| ${label} | ${gbs(t.wall).toFixed(2)} | ${gbs(best).toFixed(2)} | ${
      (best / t.wall).toFixed(2)
    }× | ` +
      `${gbs(t.cpu).toFixed(2)} | ${gbs(bestCpu).toFixed(2)} | ${(bestCpu / t.cpu).toFixed(2)}× |`,
  );
  x.dispose();
  y.dispose();
}

// Per-dispatch cost: the engine's params ring + cached bind groups, versus creating a
// uniform buffer and a bind group for every dispatch (the naive way).
{
  const count = 2000;
  const x = engine.tensor(new Float32Array(256), [256]);
  const y = engine.tensor(new Float32Array(256), [256]);
  const ms = (await gpuTiming(engine, () => engine.scope(() => void add(x, y)), count)).wall;
  const device = engine.device;
  const module = device.createShaderModule({
    code: `@group(0) @binding(0) var<uniform> n: vec4<u32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < n.x) { b[g.x] = a[g.x] + 1.0; } }`,
  });
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  const naive = async () => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    const made: GPUBuffer[] = [];
    for (let i = 0; i < count; i++) {
      const u = device.createBuffer({
        size: 16,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      device.queue.writeBuffer(u, 0, new Uint32Array([256, 0, 0, 0]));
      made.push(u);
      const bg = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: u } }, {
          binding: 1,
          resource: { buffer: x.buffer },
        }, {
          binding: 2,
          resource: { buffer: y.buffer },
        }],
      });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bg);
      pass.dispatchWorkgroups(...grid1d(256, 256));
    }
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    for (const u of made) u.destroy();
  };
  await naive();
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    await naive();
    best = Math.min(best, performance.now() - t0);
  }
  console.log("\n### Cost per small dispatch (256 elements), µs\n");
  console.log(
    "| engine (params ring, cached bind groups, one pass) | naive (uniform buffer + bind group per dispatch) | ratio |",
  );
  console.log("|---|---|---|");
  console.log(
    `| ${(ms * 1000).toFixed(1)} | ${(best / count * 1000).toFixed(1)} | ${
      (best / count / ms).toFixed(2)
    }× |`,
  );
}
engine.destroy();
