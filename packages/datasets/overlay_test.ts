import assert from "node:assert/strict";
import { decodePng, toLabels } from "./image_codec.ts";
import { CLASS_COLOURS, encodeMaskPng, encodeOverlayPng } from "./overlay.ts";
import { DatasetOptionError } from "./errors.ts";

Deno.test("encodeMaskPng() writes binary masks as 0/255 and labels as palette indices", () => {
  const bin = decodePng(encodeMaskPng(new Float32Array([0, 0.49, 0.5, 1]), 2, 2), "m.png");
  assert.deepEqual(Array.from(bin.data), [0, 0, 255, 255]);
  const lab = decodePng(encodeMaskPng(new Int32Array([0, 8, 3, 1, 2, 0]), 2, 3), "l.png");
  assert.deepEqual(Array.from(toLabels(lab)), [0, 8, 3, 1, 2, 0]);
  assert.deepEqual(Array.from(lab.data.subarray(3, 6)), [...CLASS_COLOURS[8]]);
  assert.throws(() => encodeMaskPng(new Float32Array(3), 2, 2), DatasetOptionError);
});

Deno.test("encodeOverlayPng() keeps background pixels, outlines and tints the mask", () => {
  const h = 5, w = 5, n = h * w;
  const image = new Float32Array(3 * n).fill(100);
  const mask = new Float32Array(n);
  for (let y = 1; y < 4; y++) for (let x = 1; x < 4; x++) mask[y * w + x] = 1;
  const img = decodePng(encodeOverlayPng(image, 3, mask, h, w, 0.5), "o.png");
  const px = (y: number, x: number) =>
    Array.from(img.data.subarray((y * w + x) * 3, (y * w + x) * 3 + 3));
  assert.deepEqual(px(0, 0), [100, 100, 100]);
  assert.deepEqual(px(1, 1), [...CLASS_COLOURS[1]]);
  const c = CLASS_COLOURS[1];
  assert.deepEqual(px(2, 2), c.map((v) => Math.round(0.5 * 100 + 0.5 * v)));
});
