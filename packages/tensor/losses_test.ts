import assert from "node:assert/strict";
import { readJson } from "../../tools/testing.ts";
import { Engine } from "./engine.ts";
import type { Tensor } from "./tensor.ts";
import { DtypeError, ShapeError } from "./tensor_errors.ts";
// The references' own hand values are checked in nn_reference_test.ts.
import { bceDiceRef, ceDiceRef } from "./reference/nn_losses.ts";
import {
  bceDiceLoss,
  bceLoss,
  ceDiceLoss,
  crossEntropyLoss,
  diceLoss,
  nDiceLoss,
} from "./losses.ts";
import { assertClose, normals } from "./_testing.ts";
import { randomBits, randomUniform } from "./rng.ts";

const engine = await Engine.create();
const torchRef = await readJson(new URL("./testdata/nn_torch_reference.json", import.meta.url));

/** Loss and gradient on the GPU for `fn(pred, target)`. */
async function run(
  fn: (
    p: ReturnType<Engine["tensor"]>,
    t: ReturnType<Engine["tensor"]>,
  ) => ReturnType<Engine["tensor"]>,
  pred: ArrayLike<number>,
  shape: number[],
  target: ArrayLike<number>,
  targetShape: number[],
  targetDtype: "f32" | "i32" = "f32",
): Promise<{ loss: number; grad: Float32Array }> {
  return await engine.scope(async () => {
    const p = engine.tensor(pred, shape, { requiresGrad: true });
    const t = engine.tensor(target, targetShape, { dtype: targetDtype });
    const loss = fn(p, t);
    assert.deepEqual(loss.shape, []);
    loss.backward();
    return { loss: await engine.item(loss), grad: (await p.grad!.read()) as Float32Array };
  });
}

/** A loss's value and gradient from `torchRef`. */
interface TorchLoss {
  loss: number;
  grad: number[];
}

/**
 * Runs `fn` on `inputs` (as {@linkcode run} takes them) and checks the loss within `lossTol`
 * and the gradient within `[abs, rel]` of PyTorch's.
 */
async function matchesTorch(
  name: string,
  fn: Parameters<typeof run>[0],
  inputs: [ArrayLike<number>, number[], ArrayLike<number>, number[], ("f32" | "i32")?],
  want: TorchLoss,
  lossTol: number,
  [abs, rel]: [number, number],
): Promise<{ loss: number; grad: Float32Array }> {
  const got = await run(fn, ...inputs);
  assert(Math.abs(got.loss - want.loss) < lossTol, `${name} ${got.loss} vs ${want.loss}`);
  assertClose(got.grad, want.grad, abs, rel, `${name} grad`);
  return got;
}

Deno.test("binary losses match PyTorch 1.13 numbers, including the -100 log clamp", async () => {
  const { bce, dice, bcedice } = torchRef;
  const shape = bce.shape as number[];
  // p = 0, t = 1 gives -1/(1e-12·n) like PyTorch: relative tolerances.
  const inputs: [number[], number[], number[], number[]] = [bce.pred, shape, bce.target, shape];
  await matchesTorch("bce", bceLoss, inputs, bce, 1e-5 * bce.loss, [1e-6, 1e-5]);
  await matchesTorch("dice", diceLoss, inputs, dice, 1e-6, [1e-7, 1e-5]);
  const weighted = (p: Tensor, t: Tensor) => bceDiceLoss(p, t, { wb: bcedice.wb, wd: bcedice.wd });
  inputs[0] = bcedice.pred;
  const bd = await matchesTorch("bceDice", weighted, inputs, bcedice, 1e-6, [1e-7, 1e-5]);
  // PyTorch's float32 evaluation of the same loss, for scale: both are within 1e-6.
  assert(Math.abs(bd.loss - bcedice.loss_f32) < 2e-6);
});

Deno.test("binary losses match the float64 reference on a larger odd batch (many chunks)", async () => {
  const shape = [3, 1, 37, 41]; // 1517 elements per sample: two chunks
  const n = 3 * 37 * 41;
  const u = randomUniform(5, 0, n), tb = randomUniform(5, 1, n);
  const p = Float64Array.from(u, (v) => 0.02 + 0.96 * v);
  const t = Float64Array.from(tb, (v) => (v > 0.6 ? 1 : 0));
  const got = await run((a, b) => bceDiceLoss(a, b, { wb: 0.5, wd: 2 }), p, shape, t, shape);
  const want = bceDiceRef(Float32Array.from(p), t, 3, 0.5, 2);
  assert(Math.abs(got.loss - want.loss) < 1e-5, `${got.loss} vs ${want.loss}`);
  assertClose(got.grad, want.grad, 1e-8, 1e-4, "grad");
  // Hand values: BCE of p = 0.5 is ln 2, Dice of p = [.5, .5], t = [1, 0] is 1/3.
  const h = await run(bceDiceLoss, [0.5, 0.5], [1, 2], [1, 0], [1, 2]);
  assert(Math.abs(h.loss - (Math.LN2 + 1 / 3)) < 1e-6, `hand ${h.loss}`);
});

Deno.test("multi-class losses match PyTorch 1.13 numbers on NCHW logits", async () => {
  const { ce, ndice, cedice } = torchRef;
  const shape = ce.shape as number[];
  const lshape = [shape[0], shape[2], shape[3]];
  const inputs: [number[], number[], number[], number[], "i32"] = [
    ce.logits,
    shape,
    ce.labels,
    lshape,
    "i32",
  ];
  await matchesTorch("ce", crossEntropyLoss, inputs, ce, 1e-5, [1e-7, 1e-4]);
  await matchesTorch("ndice", nDiceLoss, inputs, ndice, 1e-5, [1e-7, 1e-4]);
  const weighted = (z: Tensor, y: Tensor) =>
    ceDiceLoss(z, y, { wce: cedice.wce, wdice: cedice.wdice });
  await matchesTorch("cedice", weighted, inputs, cedice, 1e-5, [1e-7, 1e-4]);
});

Deno.test("ceDiceLoss() matches the float64 reference with 9 classes over many chunks", async () => {
  const [B, nc, H, W] = [2, 9, 19, 17];
  const z = normals(B * nc * H * W, 50, 2);
  const bits = randomBits(3, 9, B * H * W);
  const labels = Int32Array.from(bits, (v) => v % nc);
  const got = await run(ceDiceLoss, z, [B, nc, H, W], labels, [B, H, W], "i32");
  const want = ceDiceRef(Float32Array.from(z), labels, B, nc, 1, 1);
  assert(Math.abs(got.loss - want.loss) < 1e-5, `${got.loss} vs ${want.loss}`);
  assertClose(got.grad, want.grad, 1e-8, 1e-4, "grad");
  // Hand value: equal logits over 4 classes give CE = ln 4.
  const e = await run(crossEntropyLoss, [0, 0, 0, 0], [1, 4, 1, 1], [2], [1, 1, 1], "i32");
  assert(Math.abs(e.loss - Math.log(4)) < 1e-6);
});

Deno.test("losses reject mismatched shapes and dtypes naming the op and the shapes", () => {
  engine.scope(() => {
    const p = engine.tensor(new Float32Array(6), [2, 3]);
    const t = engine.tensor(new Float32Array(4), [2, 2]);
    assert.throws(
      () => bceDiceLoss(p, t),
      (e: unknown) =>
        e instanceof ShapeError && /bceDiceLoss: pred \[2, 3\] and target \[2, 2\]/.test(String(e)),
    );
    const z = engine.tensor(new Float32Array(2 * 3 * 4), [2, 3, 2, 2]);
    const lf = engine.tensor(new Float32Array(8), [2, 2, 2]);
    assert.throws(
      () => ceDiceLoss(z, lf),
      (e: unknown) => e instanceof DtypeError && /labels must be i32/.test(String(e)),
    );
    const lbad = engine.tensor(new Int32Array(6), [2, 3], { dtype: "i32" });
    assert.throws(
      () => crossEntropyLoss(z, lbad),
      (e: unknown) =>
        e instanceof ShapeError && /\[2, 3, 2, 2\]/.test(String(e)) &&
        /\[2, 2, 2\]/.test(String(e)) && /got labels \[2, 3\]/.test(String(e)),
    );
  });
});

Deno.test("loss tests release the engine", () => {
  engine.destroy();
});
