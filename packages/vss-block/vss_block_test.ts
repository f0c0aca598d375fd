import assert from "node:assert/strict";
import { Engine, mul, Rng, ShapeError, sum } from "@vmunet/tensor";
import { ParameterFactory, SS2D, VSSBlock } from "./mod.ts";
import { vssBlockRef } from "./reference.ts";
import { dot, gradientCheck, lookup, relMaxErr, seeded, snapshot } from "./_test_util.ts";

const engine = await Engine.create();

Deno.test("VSSBlock forward matches the float64 reference on a non-square map (B 2, 3×5, C 12, N 4)", async () => {
  const shape = [2, 3, 5, 12];
  const block = new VSSBlock(new ParameterFactory(engine, new Rng(3)), { dModel: 12, dState: 4 });
  const xv = seeded(2 * 3 * 5 * 12, 11, -2, 2);
  const y = engine.scope(() => block.forward(engine.tensor(xv, shape)));
  const want = vssBlockRef({ data: xv, shape }, lookup(await snapshot(block)));
  const err = relMaxErr(await y.read(), want.data);
  assert(err < 1e-5, `max error ${err}`);
  y.dispose();
});

Deno.test("VSSBlock backward matches float64 finite differences for every parameter and the input", async () => {
  const shape = [1, 3, 4, 8];
  const block = new VSSBlock(new ParameterFactory(engine, new Rng(5)), { dModel: 8, dState: 4 });
  // Perturb the initial values so that no gradient is trivially zero (Ds = 1, A_logs = ln n).
  for (const [, t] of block.namedParameters()) {
    const v = await t.read();
    const noise = seeded(v.length, t.id, -0.2, 0.2);
    engine.device.queue.writeBuffer(t.buffer, 0, Float32Array.from(v, (a, i) => a + noise[i]));
  }
  const xv = seeded(3 * 4 * 8, 21, -2, 2);
  const seed = seeded(3 * 4 * 8, 22);
  const x = engine.tensor(xv, shape, { requiresGrad: true });
  engine.scope(() => sum(mul(block.forward(x), engine.tensor(seed, shape))).backward());
  const r = await gradientCheck(
    block,
    { values: xv, grad: x.grad },
    (p, xs) => dot(vssBlockRef({ data: xs, shape }, p), seed),
  );
  if (Deno.env.get("VERBOSE")) console.log(r.errors);
  assert(
    r.worst < 2e-3,
    `worst ${r.name}: ${r.worst}; ${
      [...r.errors].map(([k, e]) => `${k} ${e.toExponential(1)}`).join(", ")
    }`,
  );
});

Deno.test("SS2D refuses an input of the wrong width, naming the shapes", () => {
  const ss2d = new SS2D(new ParameterFactory(engine, new Rng(1)), { dModel: 8, dState: 4 });
  assert.throws(
    () => ss2d.forward(engine.zeros([1, 2, 2, 6])),
    (e: Error) => e instanceof ShapeError && /\(B, H, W, 8\), got \[1, 2, 2, 6\]/.test(e.message),
  );
});

Deno.test("VSSBlock backward is exact for a dt rank that is not a multiple of 4 and an odd position count (C 72, R 5, 3×3)", async () => {
  const shape = [1, 3, 3, 72];
  const block = new VSSBlock(new ParameterFactory(engine, new Rng(8)), { dModel: 72, dState: 2 });
  assert.equal(block.selfAttention.dtRank, 5);
  const xv = seeded(9 * 72, 31, -2, 2);
  const seed = seeded(9 * 72, 32);
  const x = engine.tensor(xv, shape, { requiresGrad: true });
  const y = engine.scope(() => {
    const y = block.forward(x);
    sum(mul(y, engine.tensor(seed, shape))).backward();
    return y;
  });
  const p = lookup(await snapshot(block));
  assert(relMaxErr(await y.read(), vssBlockRef({ data: xv, shape }, p).data) < 1e-5);
  const r = await gradientCheck(
    block,
    { values: xv, grad: x.grad },
    (p, xs) => dot(vssBlockRef({ data: xs, shape }, p), seed),
  );
  assert(r.worst < 2e-3, `worst ${r.name}: ${r.worst}`);
});
