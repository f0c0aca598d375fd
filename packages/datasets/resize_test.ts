import assert from "node:assert/strict";
import { loadReference, maxAbsDiff } from "./_reference.ts";
import { resizeBilinear, zoom } from "./resize.ts";
import { DatasetOptionError } from "./errors.ts";

const ref = loadReference();

Deno.test("resizeBilinear() matches torchvision TF.resize on float64 tensors (max error 1e-9)", () => {
  // Measured max error: 1.2e-13 (float64 rounding).
  for (const r of ref.resize_bilinear) {
    const [c, h, w] = r.input.shape;
    const [, oh, ow] = r.output.shape;
    const y = resizeBilinear(r.input.data, c, h, w, oh, ow, new Float64Array(c * oh * ow));
    assert.ok(maxAbsDiff(y, r.output.data) < 1e-9, `${r.input.shape} -> ${r.output.shape}`);
  }
});

Deno.test("resizeBilinear() of a binary mask gives the same soft values as torch", () => {
  const r = ref.resize_bilinear[3];
  const y = resizeBilinear(r.input.data, 1, 19, 23, 16, 16);
  // Float32 output: max error 3e-8 against torch's float64.
  assert.ok(maxAbsDiff(y, r.output.data) < 1e-6);
  assert.ok(y.some((v) => v > 0 && v < 1), "soft values appear");
});

Deno.test("zoom() order 3 matches scipy.ndimage.zoom (max error 1e-6 against float32 output)", () => {
  // float64 inputs agree to 1.2e-15; float32 ones to 6e-8 (scipy rounds its output to float32).
  for (const z of ref.zoom) {
    const [h, w] = z.input.shape;
    const [oh, ow] = z.order3.shape;
    const y = zoom(z.input.data, 1, h, w, oh, ow, 3, new Float64Array(oh * ow));
    const tol = z.input.dtype === "float64" ? 1e-12 : 1e-6;
    assert.ok(maxAbsDiff(y, z.order3.data) < tol, `${z.input.shape} -> ${z.order3.shape}`);
  }
});

Deno.test("zoom() 512 -> 224 leaves scipy's zero last row and column", () => {
  const z = ref.zoom.find((e: { input: { shape: number[] } }) => e.input.shape[0] === 512);
  const y = zoom(z.input.data, 1, 512, 3, 224, 3, 3);
  assert.equal(y[223 * 3 + 1], 0);
  assert.ok(y[222 * 3 + 1] !== 0);
});

Deno.test("zoom() order 0 matches scipy.ndimage.zoom on labels exactly", () => {
  for (const z of ref.zoom) {
    const [h, w] = z.labels.shape;
    const [oh, ow] = z.order0.shape;
    const y = zoom(z.labels.data, 1, h, w, oh, ow, 0, new Int32Array(oh * ow));
    assert.equal(maxAbsDiff(y, z.order0.data), 0);
  }
});

Deno.test("resizeBilinear() and zoom() reject arrays that do not match their shape", () => {
  assert.throws(
    () => resizeBilinear(new Float32Array(5), 1, 2, 2, 4, 4),
    (e) => e instanceof DatasetOptionError && /src/.test(e.message) && /\(1,2,2\)/.test(e.message),
  );
  assert.throws(
    () => zoom(new Float32Array(4), 1, 2, 2, 4, 4, 2 as 3),
    (e) => e instanceof DatasetOptionError && /order/.test(e.message),
  );
});
