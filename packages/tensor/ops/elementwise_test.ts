import assert from "node:assert/strict";
import { Engine } from "../engine.ts";
import { checkOp, seeded } from "../_testing.ts";
import * as R from "../reference/ndarray.ts";
import { DtypeError, ShapeError } from "../tensor_errors.ts";
import {
  add,
  addScalar,
  div,
  exp,
  log,
  mul,
  mulScalar,
  neg,
  powScalar,
  relu,
  sigmoid,
  silu,
  softplus,
  sqrt,
  sub,
} from "./elementwise.ts";

const engine = await Engine.create();
const rand = (shape: number[], seed: number, lo = -1, hi = 1) =>
  R.nd(seeded(R.size(shape), seed, lo, hi), shape);

// Shapes: same shape (vec4 path), odd sizes (scalar path), and broadcasting both ways.
const PAIRS: [number[], number[]][] = [
  [[3, 4], [3, 4]],
  [[5, 3], [5, 3]],
  [[2, 3, 5], [5]],
  [[4, 1, 3], [1, 7, 1]],
  [[1], [3, 2]],
  [[1, 8], [3, 8]], // rows contiguous in both: the vec4 broadcast path
  [[3, 8], [8]],
];

const BINARY: [string, typeof add, (x: number, y: number) => number][] = [
  ["add", add, (x, y) => x + y],
  ["sub", sub, (x, y) => x - y],
  ["mul", mul, (x, y) => x * y],
  ["div", div, (x, y) => x / y],
];

for (const [name, fn, f] of BINARY) {
  Deno.test(`${name}() matches the float64 reference and finite differences, with broadcasting`, async () => {
    let seed = 1;
    for (const [sa, sb] of PAIRS) {
      // Denominators kept away from 0 for div.
      const b = name === "div" ? rand(sb, seed + 1, 0.5, 2) : rand(sb, seed + 1);
      await checkOp(engine, {
        name: `${name} ${JSON.stringify(sa)}·${JSON.stringify(sb)}`,
        inputs: [rand(sa, seed), b],
        gpu: ([x, y]) => fn(x, y),
        ref: ([x, y]) => R.binary(x, y, f),
      });
      seed += 2;
    }
  });
}

const UNARY: [
  string,
  (x: import("../tensor.ts").Tensor) => import("../tensor.ts").Tensor,
  (v: number) => number,
  number,
  number,
][] = [
  ["neg", neg, (v) => -v, -2, 2],
  ["exp", exp, Math.exp, -2, 2],
  ["log", log, Math.log, 0.2, 3],
  ["sqrt", sqrt, Math.sqrt, 0.2, 3],
  ["addScalar(0.5)", (x) => addScalar(x, 0.5), (v) => v + 0.5, -2, 2],
  ["mulScalar(-1.5)", (x) => mulScalar(x, -1.5), (v) => v * -1.5, -2, 2],
  ["powScalar(3)", (x) => powScalar(x, 3), (v) => v ** 3, -2, 2],
  ["powScalar(2)", (x) => powScalar(x, 2), (v) => v ** 2, -2, 2],
  ["powScalar(-0.5)", (x) => powScalar(x, -0.5), (v) => v ** -0.5, 0.3, 3],
  ["powScalar(0)", (x) => powScalar(x, 0), () => 1, -2, 2],
  ["relu", relu, (v) => Math.max(v, 0), -2, 2],
  ["sigmoid", sigmoid, R.sigmoid, -6, 6],
  ["silu", silu, (v) => v * R.sigmoid(v), -6, 6],
  ["softplus", softplus, R.softplus, -25, 25],
];

for (const [name, fn, f, lo, hi] of UNARY) {
  Deno.test(`${name} matches the float64 reference and finite differences`, async () => {
    for (const [shape, seed] of [[[4, 6], 3], [[7, 3], 4], [[1], 5]] as [number[], number][]) {
      let x = rand(shape, seed, lo, hi);
      // Keep ReLU's inputs away from the kink, where finite differences are meaningless.
      if (name === "relu") x = R.unary(x, (v) => (Math.abs(v) < 0.05 ? v + 0.1 : v));
      await checkOp(engine, {
        name: `${name} ${JSON.stringify(shape)}`,
        inputs: [x],
        gpu: ([t]) => fn(t),
        ref: ([t]) => R.unary(t, f),
        fwd: [1e-5, 2e-5],
      });
    }
  });
}

Deno.test("softplus follows PyTorch's threshold 20 and is accurate for very negative inputs", async () => {
  const x = engine.tensor([-40, -20, 19.9, 20, 20.1, 0], [6]);
  const y = await softplus(x).read();
  const expected = [-40, -20, 19.9, 20, 20.1, 0].map(R.softplus);
  for (let i = 0; i < 6; i++) {
    assert(Math.abs(y[i] - expected[i]) <= 1e-6 * Math.abs(expected[i]) + 1e-30, `${i}: ${y[i]}`);
  }
  x.dispose();
});

Deno.test("a tensor used twice accumulates both gradients", async () => {
  await engine.scope(async () => {
    const x = engine.tensor([1, -2, 3], [3], { requiresGrad: true });
    const y = add(mul(x, x), exp(x)); // dy/dx = 2x + eˣ
    y.backward(engine.tensor([1, 1, 1], [3]));
    const g = await x.grad!.read();
    [1, -2, 3].forEach((v, i) => assert(Math.abs(g[i] - (2 * v + Math.exp(v))) < 1e-4));
    // A second backward accumulates into .grad like PyTorch.
    const z = mulScalar(x, 2);
    z.backward(engine.tensor([1, 1, 1], [3]));
    const g2 = await x.grad!.read();
    [1, -2, 3].forEach((v, i) => assert(Math.abs(g2[i] - (2 * v + Math.exp(v) + 2)) < 1e-4));
    x.dispose();
  });
});

Deno.test("element-wise ops reject mismatched shapes and dtypes with typed errors", () => {
  engine.scope(() => {
    const a = engine.tensor([1, 2, 3], [3]);
    const b = engine.tensor([1, 2], [2]);
    assert.throws(
      () => add(a, b),
      (e: unknown) =>
        e instanceof ShapeError && /^add: shapes \[3\] and \[2\] do not broadcast/.test(e.message),
    );
    const i = engine.tensor([1, 2, 3], [3], { dtype: "i32" });
    assert.throws(
      () => mul(a, i),
      (e: unknown) =>
        e instanceof DtypeError &&
        /^mul: expected f32, got i32 tensor of shape \[3\]/.test(e.message),
    );
  });
});

Deno.test("a large broadcast add (several rows per invocation) matches the reference", async () => {
  await engine.scope(async () => {
    const [rows, cols] = [700, 1000];
    const a = Float32Array.from(seeded(rows * cols, 61));
    const b = Float32Array.from(seeded(cols, 62));
    const y = await add(engine.tensor(a, [rows, cols]), engine.tensor(b, [cols])).read();
    for (let i = 0; i < rows * cols; i++) {
      if (y[i] !== Math.fround(a[i] + b[i % cols])) throw new Error(`element ${i}: ${y[i]}`);
    }
  });
});
