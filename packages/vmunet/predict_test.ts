import assert from "node:assert/strict";
import { Engine, Rng, ShapeError } from "@vmunet/tensor";
import { decideLabels, predict, preset, resizeBilinear, VMUNet } from "./mod.ts";

const engine = await Engine.create();

/** PyTorch's interpolate(bilinear, align_corners=False), float64, for one plane. */
function resizeRef(x: ArrayLike<number>, h: number, w: number, oh: number, ow: number): number[] {
  const out: number[] = [];
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      const sy = Math.max((oy + 0.5) * (h / oh) - 0.5, 0);
      const sx = Math.max((ox + 0.5) * (w / ow) - 0.5, 0);
      const y0 = Math.min(Math.floor(sy), h - 1), x0 = Math.min(Math.floor(sx), w - 1);
      const y1 = Math.min(y0 + 1, h - 1), x1 = Math.min(x0 + 1, w - 1);
      const ly = sy - y0, lx = sx - x0;
      const v = (y: number, xx: number) => x[y * w + xx];
      out.push(
        (1 - ly) * ((1 - lx) * v(y0, x0) + lx * v(y0, x1)) +
          ly * ((1 - lx) * v(y1, x0) + lx * v(y1, x1)),
      );
    }
  }
  return out;
}

Deno.test("resizeBilinear reproduces PyTorch's 2×2 → 4×4 bilinear upsampling", async () => {
  const y = resizeBilinear(engine.tensor([1, 2, 3, 4], [1, 1, 2, 2]), 4, 4);
  const torch = [
    [1.0, 1.25, 1.75, 2.0],
    [1.5, 1.75, 2.25, 2.5],
    [2.5, 2.75, 3.25, 3.5],
    [3.0, 3.25, 3.75, 4.0],
  ].flat();
  const got = await y.read();
  torch.forEach((v, i) => assert(Math.abs(got[i] - v) < 1e-6, `${i}: ${got[i]} vs ${v}`));
});

Deno.test("resizeBilinear matches the align_corners=False formula when shrinking and stretching unevenly", async () => {
  const [b, c, h, w] = [2, 3, 7, 5];
  const data = Float64Array.from(new Rng(1).uniform(b * c * h * w));
  for (const [oh, ow] of [[3, 11], [7, 2], [16, 16]]) {
    const got = await resizeBilinear(engine.tensor(data, [b, c, h, w]), oh, ow).read();
    for (let p = 0; p < b * c; p++) {
      const want = resizeRef(data.subarray(p * h * w, (p + 1) * h * w), h, w, oh, ow);
      want.forEach((v, i) => assert(Math.abs(got[p * oh * ow + i] - v) < 1e-5));
    }
  }
  const x = engine.tensor([1, 2], [1, 1, 1, 2]);
  assert.equal(resizeBilinear(x, 1, 2), x);
  assert.throws(() => resizeBilinear(engine.zeros([2, 2]), 4, 4), ShapeError);
});

Deno.test("decideLabels thresholds one channel (≥) and takes the first argmax over several", async () => {
  const one = await decideLabels(engine.tensor([0.2, 0.5, 0.7, 0.49], [1, 1, 2, 2]), 0.5).read();
  assert.deepEqual(one, new Int32Array([0, 1, 1, 0]));
  // (B=1, C=3, H=1, W=3): pixel 0 → class 2, pixel 1 → tie of 0 and 1 → 0, pixel 2 → 1.
  const s = engine.tensor([0, 5, 1, 1, 5, 3, 2, 4, 2], [1, 3, 1, 3]);
  assert.deepEqual(await decideLabels(s, 0.5).read(), new Int32Array([2, 0, 1]));
});

Deno.test("predict segments images of any size, in chunks or not, consistently with the model", async () => {
  for (const numClasses of [1, 3]) {
    const model = VMUNet.create(engine, preset("vmunet-t", { dims: 8, dState: 4, numClasses }), {
      seed: 3,
    });
    const [b, h, w] = [3, 45, 70];
    const image = engine.tensor(Float64Array.from(new Rng(9).uniform(b * 3 * h * w)), [
      b,
      3,
      h,
      w,
    ]);
    const whole = predict(engine, model, image, { inputSize: [32, 64], threshold: 0.5 });
    assert.deepEqual(whole.labels.shape, [b, h, w]);
    assert.deepEqual(whole.probabilities.shape, [b, numClasses, h, w]);
    const chunked = predict(engine, model, image, { inputSize: [32, 64], batchSize: 2 });
    const p1 = await whole.probabilities.read(), p2 = await chunked.probabilities.read();
    p1.forEach((v, i) => assert(Math.abs(v - p2[i]) < 1e-5));
    // The probabilities are the model's output on the resized image, resized back.
    const direct = engine.scope(() => {
      const { output } = model.forward(resizeBilinear(image, 32, 64), { training: false });
      return output;
    });
    const out = (await direct.read()) as Float32Array;
    const labels = await whole.labels.read();
    for (let i = 0; i < b; i++) {
      for (let c = 0; c < numClasses; c++) {
        const plane = out.subarray((i * numClasses + c) * 32 * 64, (i * numClasses + c + 1) * 2048);
        const want = resizeRef(
          numClasses === 1 ? plane : softmaxPlane(out, i, c, numClasses, 2048),
          32,
          64,
          h,
          w,
        );
        const off = (i * numClasses + c) * h * w;
        want.forEach((v, k) => assert(Math.abs(p1[off + k] - v) < 1e-5, `prob ${off + k}`));
      }
      for (let k = 0; k < h * w; k++) {
        const probs = Array.from(
          { length: numClasses },
          (_, c) => p1[(i * numClasses + c) * h * w + k],
        );
        const want = numClasses === 1
          ? (probs[0] >= 0.5 ? 1 : 0)
          : probs.indexOf(Math.max(...probs));
        assert.equal(labels[i * h * w + k], want);
      }
    }
  }
});

function softmaxPlane(z: Float32Array, b: number, c: number, nc: number, hw: number): number[] {
  return Array.from({ length: hw }, (_, k) => {
    const v = Array.from({ length: nc }, (_, j) => z[(b * nc + j) * hw + k]);
    const m = Math.max(...v);
    const e = v.map((a) => Math.exp(a - m));
    return e[c] / e.reduce((a, x) => a + x, 0);
  });
}

Deno.test("predict names an image with the wrong channel count", () => {
  const model = VMUNet.create(engine, preset("vmunet-t", { dims: 4, dState: 1 }), { seed: 0 });
  assert.throws(
    () => predict(engine, model, engine.zeros([1, 1, 10, 10])),
    (e: Error) =>
      e instanceof ShapeError && /\(B, 3, H, W\), got f32\[1, 1, 10, 10\]/.test(e.message),
  );
});
