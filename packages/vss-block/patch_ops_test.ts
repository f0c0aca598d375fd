import assert from "node:assert/strict";
import { Engine, mul, Rng, ShapeError, sum, type Tensor } from "@vmunet/tensor";
import {
  FinalPatchExpand2D,
  type Module,
  ParameterFactory,
  PatchEmbed2D,
  PatchExpand2D,
  PatchMerging2D,
  splitRows,
} from "./mod.ts";
import {
  type Array64,
  conv1x1Ref,
  type ParamLookup,
  patchEmbedRef,
  patchExpandRef,
  patchMergingRef,
} from "./reference.ts";
import { dot, gradientCheck, lookup, relMaxErr, seeded, snapshot } from "./_test_util.ts";

const engine = await Engine.create();

interface Case {
  name: string;
  make: (f: ParameterFactory) => Module & { forward(x: Tensor): Tensor };
  /** Input shapes, each one test. */
  shapes: number[][];
  ref: (x: Array64, p: ParamLookup) => Array64;
}

const cases: Case[] = [
  {
    name: "PatchEmbed2D",
    make: (f) => new PatchEmbed2D(f, { embedDim: 8 }),
    shapes: [[2, 3, 8, 12]],
    ref: patchEmbedRef,
  },
  {
    name: "PatchMerging2D",
    make: (f) => new PatchMerging2D(f, { dim: 4 }),
    // Odd sizes crop the last row/column like the official code (1×5×3×4 → 1×2×1×8).
    shapes: [[1, 4, 6, 4], [1, 5, 3, 4]],
    ref: patchMergingRef,
  },
  {
    name: "PatchExpand2D",
    make: (f) => new PatchExpand2D(f, { dim: 4 }),
    shapes: [[2, 2, 3, 8]],
    ref: (x, p) => patchExpandRef(x, p, 2),
  },
  {
    name: "FinalPatchExpand2D",
    make: (f) => new FinalPatchExpand2D(f, { dim: 16 }),
    shapes: [[1, 2, 1, 16]],
    ref: (x, p) => patchExpandRef(x, p, 4),
  },
];

/**
 * Runs `forward` on seeded input of `shape` and backward with a seeded output gradient, and
 * checks the output against `ref` (float64, on the module's parameters) and every gradient
 * against central differences of `ref`.
 */
async function checkAgainstReference(
  module: Module,
  forward: (x: Tensor) => Tensor,
  shape: number[],
  ref: (x: Array64, p: ParamLookup) => Array64,
  seeds: { input: number; gradient: number },
): Promise<void> {
  const xv = seeded(shape.reduce((a, b) => a * b, 1), seeds.input, -2, 2);
  const x = engine.tensor(xv, shape, { requiresGrad: true });
  const want = ref({ data: xv, shape }, lookup(await snapshot(module)));
  const seed = seeded(want.data.length, seeds.gradient);
  const y = engine.scope(() => {
    const y = forward(x);
    sum(mul(y, engine.tensor(seed, y.shape))).backward();
    return y;
  });
  assert.deepEqual(y.shape, want.shape);
  const err = relMaxErr(await y.read(), want.data);
  assert(err < 1e-5, `forward ${err}`);
  const r = await gradientCheck(
    module,
    { values: xv, grad: x.grad },
    (p, xs) => dot(ref({ data: xs, shape }, p), seed),
  );
  assert(r.worst < 1e-3, `worst ${r.name}: ${r.worst}`);
}

for (const c of cases) {
  for (const shape of c.shapes) {
    const name = `${c.name} (${shape.join("×")})`;
    Deno.test(`${name}: forward and backward match the float64 reference`, async () => {
      const module = c.make(new ParameterFactory(engine, new Rng(shape.join("").length)));
      // LayerNorm weights away from 1/0 so that their gradients are checked non-trivially.
      for (const [, t] of module.namedParameters()) {
        const v = await t.read();
        const noise = seeded(v.length, t.id, -0.3, 0.3);
        engine.device.queue.writeBuffer(t.buffer, 0, Float32Array.from(v, (a, i) => a + noise[i]));
      }
      await checkAgainstReference(module, (x) => module.forward(x), shape, c.ref, {
        input: 5,
        gradient: 6,
      });
    });
  }
}

Deno.test("splitRows splits contiguous row ranges and routes gradients back (zeros for unused parts)", async () => {
  const x = engine.tensor([1, 2, 3, 4, 5, 6], [3, 2], { requiresGrad: true });
  const [a, b] = engine.scope(() => {
    const [a, b] = splitRows(x, [2, 1]);
    sum(mul(a, engine.tensor([1, 2, 3, 4], [2, 2]))).backward();
    return [a, b];
  });
  assert.deepEqual(await a.read(), new Float32Array([1, 2, 3, 4]));
  assert.deepEqual(await b.read(), new Float32Array([5, 6]));
  assert.deepEqual(await x.grad!.read(), new Float32Array([1, 2, 3, 4, 0, 0]));
  assert.throws(
    () => splitRows(x, [2, 2]),
    (e: Error) => e instanceof ShapeError && e.message.includes("[3, 2]"),
  );
});

Deno.test("the blocks name the shape at fault", () => {
  const f = new ParameterFactory(engine, new Rng(1));
  assert.throws(
    () => new PatchEmbed2D(f, { embedDim: 4 }).forward(engine.zeros([1, 1, 8, 8])),
    (e: Error) => e instanceof ShapeError && /\(B, 3, H, W\), got \[1, 1, 8, 8\]/.test(e.message),
  );
  assert.throws(
    () => new PatchExpand2D(f, { dim: 4 }).forward(engine.zeros([1, 2, 2, 4])),
    (e: Error) => e instanceof ShapeError && /PatchExpand2D.*\(B, H, W, 8\)/.test(e.message),
  );
  assert.throws(() => new FinalPatchExpand2D(f, { dim: 6 }), RangeError);
});

Deno.test("FinalPatchExpand2D.forwardToLogits equals final_up then the 1×1 conv, values and gradients", async () => {
  const f = new ParameterFactory(engine, new Rng(12));
  const up = new FinalPatchExpand2D(f, { dim: 16 });
  const nc = 3;
  const cw = f.make("final_conv.weight", seeded(nc * 4, 13), [nc, 4, 1, 1]);
  const cb = f.make("final_conv.bias", seeded(nc, 14), [nc]);
  const module: Module = {
    namedParameters:
      () => [...up.namedParameters(), ["final_conv.weight", cw], ["final_conv.bias", cb]],
  };
  const ref = (x: Array64, p: ParamLookup) =>
    conv1x1Ref(patchExpandRef(x, p, 4), p("final_conv.weight"), p("final_conv.bias"));
  // (2, 2, 3, 16) → logits (2, nc, 8, 12), checked against the reference's shape.
  await checkAgainstReference(module, (x) => up.forwardToLogits(x, cw, cb), [2, 2, 3, 16], ref, {
    input: 15,
    gradient: 16,
  });
});
