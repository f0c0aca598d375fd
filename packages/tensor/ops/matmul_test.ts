import assert from "node:assert/strict";
import { Engine } from "../engine.ts";
import { assertClose, checkOp, fitSquaredError, seeded } from "../_testing.ts";
import * as R from "../reference/ndarray.ts";
import { ShapeError } from "../tensor_errors.ts";
import { linear, matmul, matmulKernel, type MatmulVariant } from "./matmul.ts";
import { relu } from "./elementwise.ts";

const engine = await Engine.create();
const rand = (shape: number[], seed: number) => R.nd(seeded(R.size(shape), seed), shape);
const stored = (batch: number[], rows: number, cols: number, t: boolean) =>
  t ? [...batch, cols, rows] : [...batch, rows, cols];

const VARIANTS: [string, MatmulVariant][] = [
  ["register 4x4", { kind: "register", tm: 4, tn: 4, wx: 8, wy: 8 }],
  ["register 8x8", { kind: "register", tm: 8, tn: 8, wx: 16, wy: 4 }],
  ["engine default", "auto"],
  ["shared 64x64", { kind: "shared", tm: 4, tn: 4, wx: 16, wy: 16, bk: 16 }],
  ["shared 32x32", { kind: "shared", tm: 2, tn: 2, wx: 16, wy: 16, bk: 8 }],
  ["scalar", "scalar"],
];

Deno.test("every matmul kernel variant matches the reference for all transposes, batches and edge tiles", async () => {
  // (M, N, K): aligned sizes with partial tiles; K % 4 ≠ 0 (scalar-A register kernel),
  // N % 4 ≠ 0 with M % 4 = 0 (transposed product), odd sizes (scalar kernel).
  const sizes: [number, number, number][] = [
    [12, 20, 8],
    [36, 4, 44],
    [5, 7, 3],
    [4, 8, 6],
    [40, 96, 12],
    [12, 6, 8],
    [6, 12, 6],
  ];
  let seed = 100;
  for (const [vname, v] of VARIANTS) {
    for (const [m, n, k] of sizes) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const aBatch = [2, 1], bBatch = [3];
          const a = rand(stored(aBatch, m, k, tA), seed++);
          const b = rand(stored(bBatch, k, n, tB), seed++);
          await engine.scope(async () => {
            const ta = engine.tensor(Float32Array.from(a.data), a.shape);
            const tb = engine.tensor(Float32Array.from(b.data), b.shape);
            const y = matmulKernel(engine, ta, tb, { transA: tA, transB: tB }, v);
            const ref = R.matmul(a, b, tA, tB);
            assert.deepEqual(y.shape, ref.shape);
            assertClose(
              await y.read(),
              ref.data,
              1e-5,
              1e-4,
              `${vname} ${m}x${n}x${k} ${tA ? "T" : "N"}${tB ? "T" : "N"}`,
            );
          });
        }
      }
    }
  }
});

Deno.test("matmul() backward matches finite differences for every transpose combination and broadcast batch", async () => {
  let seed = 500;
  for (const [m, n, k] of [[4, 8, 4], [3, 5, 2]] as [number, number, number][]) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        await checkOp(engine, {
          name: `matmul ${m}x${n}x${k} ${tA ? "T" : "N"}${tB ? "T" : "N"}`,
          inputs: [rand(stored([2, 1], m, k, tA), seed++), rand(stored([3], k, n, tB), seed++)],
          gpu: ([a, b]) => matmul(a, b, { transA: tA, transB: tB }),
          ref: ([a, b]) => R.matmul(a, b, tA, tB),
          fwd: [1e-5, 1e-4],
        });
      }
    }
  }
});

Deno.test("linear() is nn.Linear over the last dimension of any rank, with and without bias", async () => {
  await checkOp(engine, {
    name: "linear (2,3,5)·(4,5)ᵀ + b",
    inputs: [rand([2, 3, 5], 1), rand([4, 5], 2), rand([4], 3)],
    gpu: ([x, w, b]) => linear(x, w, b),
    ref: ([x, w, b]) => R.binary(R.matmul(x, w, false, true), b, (p, q) => p + q),
    fwd: [1e-5, 1e-4],
  });
  await checkOp(engine, {
    name: "linear (7,8)·(12,8)ᵀ without bias",
    inputs: [rand([7, 8], 4), rand([12, 8], 5)],
    gpu: ([x, w]) => linear(x, w),
    ref: ([x, w]) => R.matmul(x, w, false, true),
    fwd: [1e-5, 1e-4],
  });
});

Deno.test("matmul() and linear() reject mismatched shapes with typed errors naming them", () => {
  engine.scope(() => {
    const a = engine.zeros([2, 3]), b = engine.zeros([4, 5]);
    assert.throws(
      () => matmul(a, b),
      (e: unknown) =>
        e instanceof ShapeError &&
        /^matmul: inner sizes differ: \[2, 3\] · \[4, 5\] \(K = 3 vs 4\)/.test(e.message),
    );
    assert.throws(
      () => matmul(engine.zeros([2, 2, 3]), engine.zeros([3, 3, 4])),
      (e: unknown) =>
        e instanceof ShapeError && /batch dimensions do not broadcast/.test(e.message),
    );
    assert.throws(
      () => linear(engine.zeros([2, 6]), engine.zeros([4, 5])),
      (e: unknown) =>
        e instanceof ShapeError &&
        /^linear: input \[2, 6\] does not fit weight \[4, 5\]/.test(e.message),
    );
  });
});

Deno.test("a small MLP learns XOR-like data with constant live bytes over 50 steps", async () => {
  const n = 64;
  const xs = seeded(n * 2, 9);
  const ys = new Float32Array(n).map((_, i) => (xs[2 * i] * xs[2 * i + 1] > 0 ? 1 : 0));
  const x = engine.keep(engine.tensor(Float32Array.from(xs), [n, 2]));
  const t = engine.keep(engine.tensor(ys, [n, 1]));
  const w1 = engine.parameter(seeded(32, 1).map((v) => v * 1.5), [16, 2], "w1");
  const b1 = engine.parameter(seeded(16, 2).map((v) => v * 0.1), [16], "b1");
  const w2 = engine.parameter(seeded(16, 3).map((v) => v * 0.5), [1, 16], "w2");
  const b2 = engine.parameter([0], [1], "b2");
  const params = [w1, b1, w2, b2];
  const { first, last } = await fitSquaredError(
    engine,
    params,
    () => linear(relu(linear(x, w1, b1)), w2, b2),
    t,
    0.5,
  );
  assert(last < 0.6 * first && last < 0.12, `loss ${first} → ${last}`);
  for (const p of [...params, x, t]) p.dispose();
});

Deno.test("the shared-memory family is selectable per engine and gives the same products", async () => {
  const tiled = new Engine(engine.gpu, { matmul: "tiled" });
  assert.equal(tiled.matmulVariant, "tiled");
  assert.equal(engine.matmulVariant, "register");
  const a = rand([3, 20, 12], 31), b = rand([12, 8], 32);
  await tiled.scope(async () => {
    const y = matmul(
      tiled.tensor(Float32Array.from(a.data), a.shape),
      tiled.tensor(Float32Array.from(b.data), b.shape),
    );
    assertClose(await y.read(), R.matmul(a, b).data, 1e-5, 1e-4, "tiled engine matmul");
  });
});

Deno.test("Aᵀ·B with a long K is split into partial products and summed (weight-gradient shape)", async () => {
  await engine.scope(async () => {
    for (
      const [m, n, k] of [[8, 8, 4096], [12, 20, 2048], [6, 10, 3072]] as [number, number, number][]
    ) {
      const a = rand([k, m], m + k), b = rand([k, n], n + k);
      const y = matmul(
        engine.tensor(Float32Array.from(a.data), a.shape),
        engine.tensor(Float32Array.from(b.data), b.shape),
        { transA: true },
      );
      assertClose(
        await y.read(),
        R.matmul(a, b, true, false).data,
        2e-4,
        1e-4,
        `split-K ${m}x${n}x${k}`,
      );
    }
  });
  const live = engine.stats().liveBytes;
  engine.scope(() => {
    matmul(engine.zeros([4096, 8]), engine.zeros([4096, 8]), { transA: true });
  });
  assert.equal(engine.stats().liveBytes, live);
});
