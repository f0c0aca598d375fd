import assert from "node:assert/strict";
import { Engine } from "../engine.ts";
import { checkOp, seeded } from "../_testing.ts";
import * as R from "../reference/ndarray.ts";
import { ShapeError } from "../tensor_errors.ts";
import { mul } from "./elementwise.ts";
import {
  assign,
  broadcastTo,
  concat,
  flip,
  permute,
  pixelShuffle,
  repeat,
  reshape,
  slice,
  transpose,
} from "./layout.ts";

const engine = await Engine.create();
const rand = (shape: number[], seed: number) => R.nd(seeded(R.size(shape), seed), shape);

Deno.test("permute() and transpose() match the reference and finite differences", async () => {
  await checkOp(engine, {
    name: "permute",
    inputs: [rand([2, 3, 4, 5], 1)],
    gpu: ([x]) => permute(x, [2, 0, 3, 1]),
    ref: ([x]) => R.permute(x, [2, 0, 3, 1]),
  });
  await checkOp(engine, {
    name: "transpose",
    inputs: [rand([3, 7, 5], 2)],
    gpu: ([x]) => transpose(x, -1, 0),
    ref: ([x]) => R.permute(x, [2, 1, 0]),
  });
});

Deno.test("flip() along axes matches the reference", async () => {
  await checkOp(engine, {
    name: "flip",
    inputs: [rand([3, 4, 5], 3)],
    gpu: ([x]) => flip(x, [0, -1]),
    ref: ([x]) => R.flip(x, [0, 2]),
  });
});

Deno.test("slice() implements x[:, 0::2, 1::2, :] and negative steps like Python", async () => {
  const norm = (n: number, start: number, step: number, len: number) => ({ start, step, len, n });
  await checkOp(engine, {
    name: "slice PatchMerging x[:, 1::2, 0::2, :]",
    inputs: [rand([2, 6, 5, 3], 4)],
    gpu: ([x]) => slice(x, [{}, { start: 1, step: 2 }, { start: 0, step: 2 }]),
    ref: ([x]) =>
      R.slice(x, [norm(2, 0, 1, 2), norm(6, 1, 2, 3), norm(5, 0, 2, 3), norm(3, 0, 1, 3)]),
  });
  await checkOp(engine, {
    name: "slice x[1:-1, ::-2]",
    inputs: [rand([5, 7], 5)],
    gpu: ([x]) => slice(x, [{ start: 1, stop: -1 }, { step: -2 }]),
    ref: ([x]) => R.slice(x, [norm(5, 1, 1, 3), norm(7, 6, -2, 4)]),
  });
  // Steps on every axis keep 4 strided dimensions: the general (non-3-D) gather and scatter.
  await checkOp(engine, {
    name: "slice x[::2, ::2, ::2, ::2]",
    inputs: [rand([5, 5, 5, 5], 18)],
    gpu: ([x]) => slice(x, [{ step: 2 }, { step: 2 }, { step: 2 }, { step: 2 }]),
    ref: ([x]) => R.slice(x, [0, 1, 2, 3].map(() => norm(5, 0, 2, 3))),
  });
  assert.throws(
    () => engine.scope(() => slice(engine.zeros([2, 2]), [{ step: 0 }])),
    (e: unknown) =>
      e instanceof ShapeError && /^slice: slice step must be a non-zero/.test(e.message),
  );
});

Deno.test("concat() along an axis matches the reference and splits the gradient", async () => {
  await checkOp(engine, {
    name: "concat axis 1",
    inputs: [rand([2, 3, 4], 6), rand([2, 1, 4], 7), rand([2, 5, 4], 8)],
    gpu: (ts) => concat(ts, 1),
    ref: (xs) => R.concat(xs, 1),
  });
  await checkOp(engine, {
    name: "concat last axis (PatchMerging's cat)",
    inputs: [rand([2, 2, 3], 9), rand([2, 2, 3], 10), rand([2, 2, 3], 11), rand([2, 2, 3], 12)],
    gpu: (ts) => concat(ts, -1),
    ref: (xs) => R.concat(xs, 2),
  });
  assert.throws(
    () => engine.scope(() => concat([engine.zeros([2, 3]), engine.zeros([3, 3])], 1)),
    (e: unknown) =>
      e instanceof ShapeError &&
      /^concat: cannot concatenate f32\[2, 3\], f32\[3, 3\] along axis 1/.test(e.message),
  );
});

Deno.test("pixelShuffle() is PatchExpand's b h w (p1 p2 c) -> b (h p1) (w p2) c for p = 2 and 4", async () => {
  for (const [shape, p] of [[[2, 3, 2, 12], 2], [[1, 2, 3, 32], 4]] as [number[], number][]) {
    await checkOp(engine, {
      name: `pixelShuffle p=${p}`,
      inputs: [rand(shape, 13 + p)],
      gpu: ([x]) => pixelShuffle(x, p),
      ref: ([x]) => R.pixelShuffle(x, p),
    });
  }
  assert.throws(
    () => engine.scope(() => pixelShuffle(engine.zeros([1, 2, 2, 6]), 2)),
    (e: unknown) => e instanceof ShapeError && /p = 2, got \[1, 2, 2, 6\]/.test(e.message),
  );
});

Deno.test("repeat() and broadcastTo() match the reference and sum gradients back", async () => {
  await checkOp(engine, {
    name: "repeat(1,3,1,1) of a 1-channel image",
    inputs: [rand([2, 1, 3, 4], 14)],
    gpu: ([x]) => repeat(x, [1, 3, 1, 1]),
    ref: ([x]) => R.repeat(x, [1, 3, 1, 1]),
  });
  await checkOp(engine, {
    name: "repeat with a new leading axis",
    inputs: [rand([2, 3], 15)],
    gpu: ([x]) => repeat(x, [2, 2, 3]),
    ref: ([x]) => R.repeat(x, [2, 2, 3]),
  });
  await checkOp(engine, {
    name: "broadcastTo",
    inputs: [rand([3, 1], 16)],
    gpu: ([x]) => broadcastTo(x, [2, 3, 4]),
    ref: ([x]) => R.broadcastTo(x, [2, 3, 4]),
  });
});

Deno.test("reshape() is a view: no copy, gradient flows back, -1 infers a size", async () => {
  await checkOp(engine, {
    name: "reshape",
    inputs: [rand([2, 3, 4], 17)],
    gpu: ([x]) => mul(reshape(x, [4, -1]), reshape(x, [4, 6])),
    ref: ([x]) => ({ shape: [4, 6], data: R.binary(x, x, (a, b) => a * b).data }),
  });
  await engine.scope(async () => {
    const x = engine.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const d0 = engine.stats().dispatches;
    const y = reshape(x, [3, -1]);
    assert.deepEqual(y.shape, [3, 2]);
    assert.equal(engine.stats().dispatches, d0);
    assert.equal(y.buffer, x.buffer);
    assert.deepEqual([...await y.read()], [1, 2, 3, 4, 5, 6]);
    assert.throws(
      () => reshape(x, [4, 2]),
      (e: unknown) =>
        e instanceof ShapeError &&
        /^reshape: cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/.test(e.message),
    );
  });
});

Deno.test("assign() overwrites a tensor in place", async () => {
  await engine.scope(async () => {
    const a = engine.tensor([1, 2, 3], [3]);
    assign(a, engine.tensor([4, 5, 6], [3]));
    assert.deepEqual([...await a.read()], [4, 5, 6]);
    assert.throws(() => assign(a, engine.zeros([2])), ShapeError);
  });
});

Deno.test("vec4 moves (an innermost run of 4k contiguous elements, 4×4 block transposes) match the reference, gradients included", async () => {
  const norm = (n: number, start: number, step: number, len: number) => ({ start, step, len, n });
  await checkOp(engine, {
    name: "permute keeping the last axis (rank 4 after coalescing)",
    inputs: [rand([2, 3, 5, 8], 21)],
    gpu: ([x]) => permute(x, [2, 0, 1, 3]),
    ref: ([x]) => R.permute(x, [2, 0, 1, 3]),
  });
  await checkOp(engine, {
    name: "pixelShuffle p=2 with 4 channels per pixel",
    inputs: [rand([2, 3, 5, 16], 22)],
    gpu: ([x]) => pixelShuffle(x, 2),
    ref: ([x]) => R.pixelShuffle(x, 2),
  });
  await checkOp(engine, {
    name: "concat along the last axis (scatter at offsets 0 and 4)",
    inputs: [rand([2, 3, 4], 23), rand([2, 3, 8], 24)],
    gpu: (ts) => concat(ts, -1),
    ref: (xs) => R.concat(xs, 2),
  });
  await checkOp(engine, {
    name: "slice x[:, 1::2] of 8-wide rows",
    inputs: [rand([2, 6, 3, 8], 25)],
    gpu: ([x]) => slice(x, [{}, { start: 1, step: 2 }]),
    ref: ([x]) =>
      R.slice(x, [norm(2, 0, 1, 2), norm(6, 1, 2, 3), norm(3, 0, 1, 3), norm(8, 0, 1, 8)]),
  });
  await checkOp(engine, {
    name: "slice x[:, 2:] (offset not a multiple of 4: the scalar path)",
    inputs: [rand([3, 10], 26)],
    gpu: ([x]) => slice(x, [{}, { start: 2 }]),
    ref: ([x]) => R.slice(x, [norm(3, 0, 1, 3), norm(10, 2, 1, 8)]),
  });
  await checkOp(engine, {
    name: "transpose of the last two axes in 4×4 blocks",
    inputs: [rand([3, 8, 12], 27)],
    gpu: ([x]) => permute(x, [0, 2, 1]),
    ref: ([x]) => R.permute(x, [0, 2, 1]),
  });
  await checkOp(engine, {
    name: "2-D transpose in 4×4 blocks",
    inputs: [rand([4, 16], 28)],
    gpu: ([x]) => transpose(x, 0, 1),
    ref: ([x]) => R.permute(x, [1, 0]),
  });
  await engine.scope(async () => {
    const ids = Int32Array.from({ length: 2 * 3 * 8 }, (_, i) => i - 20);
    const t = engine.tensor(ids, [2, 3, 8], { dtype: "i32" });
    const ref = R.permute(R.nd(ids, [2, 3, 8]), [1, 0, 2]).data;
    assert.deepEqual([...await permute(t, [1, 0, 2]).read()], [...ref]);
    const t48 = engine.tensor(ids.subarray(0, 32), [4, 8], { dtype: "i32" });
    const ref48 = R.permute(R.nd(ids.subarray(0, 32), [4, 8]), [1, 0]).data;
    assert.deepEqual([...await permute(t48, [1, 0]).read()], [...ref48]);
  });
});

Deno.test("a large permute and slice (several rows per invocation) match the reference", async () => {
  await engine.scope(async () => {
    const x = rand([3, 700, 500], 19);
    const t = engine.tensor(Float32Array.from(x.data), x.shape);
    const p = await permute(t, [0, 2, 1]).read();
    const ref = R.permute({ shape: x.shape, data: Float64Array.from(Float32Array.from(x.data)) }, [
      0,
      2,
      1,
    ]);
    for (let i = 0; i < p.length; i++) {
      if (p[i] !== ref.data[i]) throw new Error(`permute element ${i}`);
    }
    const s = await slice(t, [{}, { start: 1, step: 2 }, {}]).read();
    for (let b = 0, o = 0; b < 3; b++) {
      for (let r = 1; r < 700; r += 2) {
        for (let c = 0; c < 500; c++, o++) {
          if (s[o] !== Math.fround(x.data[(b * 700 + r) * 500 + c])) {
            throw new Error(`slice element ${o}`);
          }
        }
      }
    }
  });
});
