import assert from "node:assert/strict";
import { Engine } from "../engine.ts";
import { checkOp, seeded } from "../_testing.ts";
import * as R from "../reference/ndarray.ts";
import { ShapeError } from "../tensor_errors.ts";
import { logSoftmax, softmax } from "./softmax.ts";

const engine = await Engine.create();
const rand = (shape: number[], seed: number) => R.nd(seeded(R.size(shape), seed, -3, 3), shape);

for (const log of [false, true]) {
  const name = log ? "logSoftmax" : "softmax";
  const fn = log ? logSoftmax : softmax;
  Deno.test(`${name}() over the last, middle and first axis matches the reference and finite differences`, async () => {
    const cases: [number[], number][] = [[[4, 9], -1], [[2, 5, 3], 1], [[3, 4, 2], 0], [[7], 0]];
    let seed = log ? 40 : 30;
    for (const [shape, axis] of cases) {
      await checkOp(engine, {
        name: `${name} ${JSON.stringify(shape)} axis ${axis}`,
        inputs: [rand(shape, seed++)],
        gpu: ([x]) => fn(x, axis),
        ref: ([x]) => R.softmax(x, axis, log),
        fwd: [2e-6, 2e-5],
      });
    }
  });
}

Deno.test("softmax() is stable for large logits and rejects a bad axis", async () => {
  await engine.scope(async () => {
    const y = await softmax(engine.tensor([1000, 1001, 999], [3]), 0).read();
    const e = R.softmax(R.nd([1000, 1001, 999], [3]), 0).data;
    for (let i = 0; i < 3; i++) assert(Math.abs(y[i] - e[i]) < 1e-6);
    assert.throws(
      () => softmax(engine.zeros([2, 3]), 2),
      (err: unknown) =>
        err instanceof ShapeError &&
        /^softmax: axis 2 is out of range for rank 2/.test(err.message),
    );
  });
});
