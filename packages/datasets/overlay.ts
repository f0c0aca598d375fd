/**
 * PNG writers for predictions: masks (binary 0/255 or class ids as a palette PNG) and colour
 * overlays of a mask on its image, used by predict and reports.
 *
 * @module
 */

import { DatasetOptionError } from "./errors.ts";
import { encodePng } from "./image_codec.ts";

/** Colours of classes 0..8 in label PNGs and overlays (0 = background, black). */
export const CLASS_COLOURS: readonly (readonly [number, number, number])[] = [
  [0, 0, 0],
  [230, 25, 75],
  [60, 180, 75],
  [255, 225, 25],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
];

/**
 * The colour of a class in label PNGs, overlays and the web page: {@linkcode CLASS_COLOURS}
 * for 0..8, a deterministic hue walk beyond.
 *
 * @param label Class id (0 = background).
 * @returns RGB in 0..255.
 * @example
 * ```ts
 * import { CLASS_COLOURS, classColour } from "@vmunet/datasets";
 * console.assert(classColour(1) === CLASS_COLOURS[1] && classColour(12).length === 3);
 * ```
 */
export function classColour(label: number): readonly [number, number, number] {
  if (label < CLASS_COLOURS.length) return CLASS_COLOURS[label];
  // Further classes: a deterministic hue walk.
  const h = (label * 137.508) % 360;
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (0.5 - 0.5 * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/**
 * Encodes a mask as PNG: a binary `Float32Array` (probabilities or {0,1}) becomes an 8-bit grey
 * PNG with 0/255 (pixel ≥ `threshold`), an `Int32Array` of class ids a palette PNG whose index
 * is the class id.
 *
 * @param mask `(H,W)` values.
 * @param height H.
 * @param width W.
 * @param threshold Binarisation threshold for float masks (default 0.5, like the official ≥ 0.5).
 * @returns The PNG bytes.
 * @example
 * ```ts
 * import { decodePng, encodeMaskPng } from "@vmunet/datasets";
 * const png = encodeMaskPng(new Float32Array([0.2, 0.7]), 1, 2);
 * console.assert(decodePng(png, "m.png").data.join() === "0,255");
 * ```
 */
export function encodeMaskPng(
  mask: Float32Array | Int32Array,
  height: number,
  width: number,
  threshold = 0.5,
): Uint8Array {
  if (mask.length !== height * width) {
    throw new DatasetOptionError("mask", `length ${mask.length} ≠ ${height}×${width}`);
  }
  if (mask instanceof Float32Array) {
    const data = new Uint8Array(mask.length);
    for (let i = 0; i < mask.length; i++) data[i] = mask[i] >= threshold ? 255 : 0;
    return encodePng({ width, height, channels: 1, data });
  }
  let max = 0;
  for (const v of mask) {
    if (v < 0 || v > 255) throw new DatasetOptionError("mask", `class id ${v} outside 0..255`);
    max = Math.max(max, v);
  }
  const palette = Array.from({ length: max + 1 }, (_, i) => [...classColour(i)]);
  return encodePng({ width, height, channels: 1, data: Uint8Array.from(mask), palette });
}

/**
 * Renders a mask over its image as an RGB PNG: foreground pixels are blended with their class
 * colour (binary masks: red) at `alpha`, and the mask outline is drawn opaque.
 *
 * @param image Planar image `(C,H,W)` with values in [0, 255] (C = 1 or 3).
 * @param channels C.
 * @param mask `(H,W)` binary probabilities or class ids.
 * @param height H.
 * @param width W.
 * @param alpha Blend weight of the colour inside the mask (default 0.4).
 * @returns The PNG bytes.
 * @example
 * ```ts
 * import { encodeOverlayPng } from "@vmunet/datasets";
 * const png = encodeOverlayPng(new Float32Array(3 * 4).fill(128), 3, new Float32Array([0, 1, 1, 0]), 2, 2);
 * console.assert(png.length > 8);
 * ```
 */
export function encodeOverlayPng(
  image: Float32Array,
  channels: number,
  mask: Float32Array | Int32Array,
  height: number,
  width: number,
  alpha = 0.4,
): Uint8Array {
  const n = height * width;
  if (image.length !== channels * n || (channels !== 1 && channels !== 3)) {
    throw new DatasetOptionError(
      "image",
      `length ${image.length} does not match (${channels},${height},${width}) with C = 1 or 3`,
    );
  }
  if (mask.length !== n) {
    throw new DatasetOptionError("mask", `length ${mask.length} ≠ ${height}×${width}`);
  }
  const label = (i: number) => (mask instanceof Float32Array ? (mask[i] >= 0.5 ? 1 : 0) : mask[i]);
  const rgb = new Uint8Array(n * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const l = label(i);
      const edge = l !== 0 &&
        (x === 0 || y === 0 || x === width - 1 || y === height - 1 ||
          label(i - 1) !== l || label(i + 1) !== l || label(i - width) !== l ||
          label(i + width) !== l);
      const colour = classColour(l);
      for (let k = 0; k < 3; k++) {
        const v = image[(channels === 3 ? k : 0) * n + i];
        const px = Math.max(0, Math.min(255, v));
        const out = l === 0 ? px : edge ? colour[k] : (1 - alpha) * px + alpha * colour[k];
        rgb[i * 3 + k] = Math.round(out);
      }
    }
  }
  return encodePng({ width, height, channels: 3, data: rgb });
}
