import assert from "node:assert/strict";
import { loadReference, maxAbsDiff } from "./_reference.ts";
import {
  flipHorizontal,
  flipVertical,
  luminance,
  myNormalize,
  rot90,
  rotateNdimageNearest,
  rotateNearest,
} from "./transforms.ts";

const ref = loadReference();

Deno.test("rotateNearest() matches torchvision TF.rotate (nearest, fill 0) exactly", () => {
  for (const r of ref.rotate_nearest) {
    const [c, h, w] = r.input.shape;
    const y = rotateNearest(Float64Array.from(r.input.data), c, h, w, r.angle);
    assert.equal(maxAbsDiff(y, r.output.data), 0, `angle ${r.angle}`);
  }
});

Deno.test("rotateNdimageNearest() matches scipy.ndimage.rotate(order=0, reshape=False) exactly", () => {
  for (const r of ref.ndimage_rotate) {
    const [h, w] = r.input.shape;
    assert.equal(
      maxAbsDiff(
        rotateNdimageNearest(Float32Array.from(r.input.data), 1, h, w, r.angle),
        r.output.data,
      ),
      0,
    );
    assert.equal(
      maxAbsDiff(
        rotateNdimageNearest(Int32Array.from(r.labels.data), 1, h, w, r.angle),
        r.labels_out.data,
      ),
      0,
    );
  }
});

Deno.test("myNormalize() matches VM-UNet's myNormalize in float64 (max error 1e-9)", () => {
  const n = ref.my_normalize;
  assert.ok(maxAbsDiff(myNormalize(n.input_hwc.data, n), n.output_hwc.data) < 1e-9);
  assert.deepEqual(Array.from(myNormalize([5, 5], n)), [0, 0]);
});

Deno.test("luminance() matches PIL convert('L') exactly", () => {
  assert.equal(maxAbsDiff(luminance(ref.pil_L.input_hwc.data, 3), ref.pil_L.output.data), 0);
});

Deno.test("flips and rot90 follow torchvision and numpy conventions", () => {
  // 2x3 plane [[1,2,3],[4,5,6]]
  const x = new Int32Array([1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(flipHorizontal(x, 1, 2, 3)), [3, 2, 1, 6, 5, 4]);
  assert.deepEqual(Array.from(flipVertical(x, 1, 2, 3)), [4, 5, 6, 1, 2, 3]);
  // np.rot90([[1,2,3],[4,5,6]], k) flattened:
  assert.deepEqual(Array.from(rot90(x, 1, 2, 3, 1)), [3, 6, 2, 5, 1, 4]);
  assert.deepEqual(Array.from(rot90(x, 1, 2, 3, 2)), [6, 5, 4, 3, 2, 1]);
  assert.deepEqual(Array.from(rot90(x, 1, 2, 3, 3)), [4, 1, 5, 2, 6, 3]);
  assert.deepEqual(Array.from(rot90(x, 1, 2, 3, 4)), [1, 2, 3, 4, 5, 6]);
});

Deno.test("rotating an image and its label by any angle keeps labels in the label set", () => {
  const labels = new Int32Array(12 * 12).map((_, i) => (i * 7) % 5);
  for (const angle of [13, 77.5, 181, 300]) {
    for (const v of rotateNearest(labels, 1, 12, 12, angle)) {
      assert.ok(v >= 0 && v < 5 && Number.isInteger(v));
    }
  }
});
