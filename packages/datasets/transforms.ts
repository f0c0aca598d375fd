/**
 * The geometric and intensity transforms of the official pipelines, on planar `(C,H,W)`
 * arrays: torchvision's `TF.hflip`, `TF.vflip` and `TF.rotate` (nearest, no expand, fill 0)
 * for ISIC, numpy's `rot90`/`flip` and `scipy.ndimage.rotate(order=0, reshape=False)` for
 * Synapse, VM-UNet's `myNormalize`, and PIL's `convert("L")` for masks.
 *
 * @module
 */

import { DatasetOptionError } from "./errors.ts";
import { roundHalfEven } from "./_round.ts";

/** Any planar numeric array the transforms accept and return (same type out as in). */
export type Planes = Float32Array | Float64Array | Int32Array | Uint8Array;

function like<T extends Planes>(a: T, length: number): T {
  return new (a.constructor as { new (n: number): T })(length);
}

/**
 * Mirrors each row (`TF.hflip`: flips the last axis).
 *
 * @param src Planes `(C,H,W)`.
 * @param channels C.
 * @param height H.
 * @param width W.
 * @returns A new array of the same type.
 * @example
 * ```ts
 * import { flipHorizontal } from "@vmunet/datasets";
 * console.assert(flipHorizontal(new Float32Array([1, 2, 3]), 1, 1, 3)[0] === 3);
 * ```
 */
export function flipHorizontal<T extends Planes>(
  src: T,
  channels: number,
  height: number,
  width: number,
): T {
  const out = like(src, src.length);
  for (let r = 0; r < channels * height; r++) {
    const b = r * width;
    for (let x = 0; x < width; x++) out[b + x] = src[b + width - 1 - x];
  }
  return out;
}

/**
 * Mirrors the rows (`TF.vflip`: flips the height axis).
 *
 * @param src Planes `(C,H,W)`.
 * @param channels C.
 * @param height H.
 * @param width W.
 * @returns A new array of the same type.
 * @example
 * ```ts
 * import { flipVertical } from "@vmunet/datasets";
 * console.assert(flipVertical(new Float32Array([1, 2]), 1, 2, 1)[0] === 2);
 * ```
 */
export function flipVertical<T extends Planes>(
  src: T,
  channels: number,
  height: number,
  width: number,
): T {
  const out = like(src, src.length);
  for (let c = 0; c < channels; c++) {
    const b = c * height * width;
    for (let y = 0; y < height; y++) {
      out.set(src.subarray(b + (height - 1 - y) * width, b + (height - y) * width), b + y * width);
    }
  }
  return out;
}

/**
 * `torchvision.transforms.functional.rotate(img, angle)` on a float tensor: counter-clockwise
 * by `angle` degrees about the image centre, nearest neighbour, no expand, fill 0. Follows
 * torchvision 0.14's affine grid (`_get_inverse_affine_matrix`, `_gen_affine_grid`) and
 * `grid_sample(mode="nearest", align_corners=False)`.
 *
 * @param src Planes `(C,H,W)`.
 * @param channels C.
 * @param height H.
 * @param width W.
 * @param angle Degrees, counter-clockwise.
 * @returns A new array of the same type.
 * @example
 * ```ts
 * import { rotateNearest } from "@vmunet/datasets";
 * // 90° counter-clockwise: the top-right pixel moves to the top-left.
 * const y = rotateNearest(new Float32Array([1, 2, 3, 4]), 1, 2, 2, 90);
 * console.assert(y[0] === 2);
 * ```
 */
export function rotateNearest<T extends Planes>(
  src: T,
  channels: number,
  height: number,
  width: number,
  angle: number,
): T {
  const rot = (-angle * Math.PI) / 180;
  const m0 = Math.cos(rot), m1 = Math.sin(rot), m3 = -Math.sin(rot), m4 = Math.cos(rot);
  const hw = 0.5 * width, hh = 0.5 * height;
  const a0 = m0 / hw, a1 = m1 / hw, b0 = m3 / hh, b1 = m4 / hh;
  const out = like(src, src.length);
  const plane = height * width;
  for (let oy = 0; oy < height; oy++) {
    const y = -height * 0.5 + 0.5 + oy;
    for (let ox = 0; ox < width; ox++) {
      const x = -width * 0.5 + 0.5 + ox;
      const gx = x * a0 + y * a1, gy = x * b0 + y * b1;
      const ix = roundHalfEven(((gx + 1) * width - 1) / 2);
      const iy = roundHalfEven(((gy + 1) * height - 1) / 2);
      if (ix < 0 || ix >= width || iy < 0 || iy >= height) continue;
      for (let c = 0; c < channels; c++) {
        out[c * plane + oy * width + ox] = src[c * plane + iy * width + ix];
      }
    }
  }
  return out;
}

/**
 * `np.rot90(x, k)` of each `(H,W)` plane (counter-clockwise quarter turns); the result has
 * shape `(C,W,H)` for odd k.
 *
 * @param src Planes `(C,H,W)`.
 * @param channels C.
 * @param height H.
 * @param width W.
 * @param k Number of quarter turns (any integer).
 * @returns A new array of the same type.
 * @example
 * ```ts
 * import { rot90 } from "@vmunet/datasets";
 * // [[1,2],[3,4]] -> [[2,4],[1,3]]
 * console.assert(rot90(new Int32Array([1, 2, 3, 4]), 1, 2, 2, 1).join() === "2,4,1,3");
 * ```
 */
export function rot90<T extends Planes>(
  src: T,
  channels: number,
  height: number,
  width: number,
  k: number,
): T {
  const q = ((k % 4) + 4) % 4;
  const out = like(src, src.length);
  const plane = height * width;
  for (let c = 0; c < channels; c++) {
    const b = c * plane;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const v = src[b + y * width + x];
        if (q === 0) out[b + y * width + x] = v;
        else if (q === 1) out[b + (width - 1 - x) * height + y] = v;
        else if (q === 2) out[b + (height - 1 - y) * width + (width - 1 - x)] = v;
        else out[b + x * height + (height - 1 - y)] = v;
      }
    }
  }
  return out;
}

/**
 * `scipy.ndimage.rotate(x, angle, order=0, reshape=False)` of each `(H,W)` plane (mode
 * constant, cval 0), as TransUNet's `random_rotate` applies it to images and labels.
 *
 * @param src Planes `(C,H,W)`.
 * @param channels C.
 * @param height H.
 * @param width W.
 * @param angle Degrees (scipy's sign convention).
 * @returns A new array of the same type.
 * @example
 * ```ts
 * import { rotateNdimageNearest } from "@vmunet/datasets";
 * const y = rotateNdimageNearest(new Int32Array([1, 2, 3, 4]), 1, 2, 2, 90);
 * console.assert(y.join() === "2,4,1,3");
 * ```
 */
export function rotateNdimageNearest<T extends Planes>(
  src: T,
  channels: number,
  height: number,
  width: number,
  angle: number,
): T {
  const [c, s] = cosSinDegrees(angle);
  const ch = (height - 1) / 2, cw = (width - 1) / 2;
  // offset = in_center - R @ out_center with R = [[c, s], [-s, c]] over (row, col).
  const off0 = ch - (c * ch + s * cw);
  const off1 = cw - (-s * ch + c * cw);
  const out = like(src, src.length);
  const plane = height * width;
  for (let oy = 0; oy < height; oy++) {
    for (let ox = 0; ox < width; ox++) {
      const iyf = c * oy + s * ox + off0;
      const ixf = -s * oy + c * ox + off1;
      if (iyf < 0 || iyf > height - 1 || ixf < 0 || ixf > width - 1) continue;
      const iy = Math.floor(iyf + 0.5), ix = Math.floor(ixf + 0.5);
      for (let k = 0; k < channels; k++) {
        out[k * plane + oy * width + ox] = src[k * plane + iy * width + ix];
      }
    }
  }
  return out;
}

/** `scipy.special.cosdg`/`sindg`: exact at multiples of 90°. */
function cosSinDegrees(angle: number): [number, number] {
  const a = ((angle % 360) + 360) % 360;
  if (a === 0) return [1, 0];
  if (a === 90) return [0, 1];
  if (a === 180) return [-1, 0];
  if (a === 270) return [0, -1];
  const r = (angle * Math.PI) / 180;
  return [Math.cos(r), Math.sin(r)];
}

/** Mean and standard deviation of VM-UNet's `myNormalize` for one dataset split. */
export interface NormalizeConstants {
  /** Mean subtracted from every pixel. */
  mean: number;
  /** Standard deviation every pixel is divided by. */
  std: number;
}

/** The official `myNormalize` constants (docs/spec.md §9.1). */
export const ISIC_NORMALIZATION: {
  readonly isic18: { readonly train: NormalizeConstants; readonly test: NormalizeConstants };
  readonly isic17: { readonly train: NormalizeConstants; readonly test: NormalizeConstants };
} = {
  isic18: { train: { mean: 157.561, std: 26.706 }, test: { mean: 149.034, std: 32.022 } },
  isic17: { train: { mean: 159.922, std: 28.871 }, test: { mean: 148.429, std: 25.748 } },
};

/**
 * VM-UNet's `myNormalize`: `(x − mean) / std`, then min–max over the whole image to
 * [0, 255], in float64. A constant image (max = min) maps to 0 (the official code would
 * produce NaN).
 *
 * @param src Pixels (any layout; the min and max are taken over all of them).
 * @param constants Mean and std (they cancel up to rounding).
 * @param out Optional output (a new Float64Array by default).
 * @returns The normalised pixels in [0, 255].
 * @example
 * ```ts
 * import { myNormalize } from "@vmunet/datasets";
 * const y = myNormalize(new Uint8Array([10, 20, 30]), { mean: 157.561, std: 26.706 });
 * console.assert(y[0] === 0 && Math.abs(y[1] - 127.5) < 1e-9 && y[2] === 255);
 * ```
 */
export function myNormalize(
  src: ArrayLike<number>,
  constants: NormalizeConstants,
  out?: Float32Array | Float64Array,
): Float32Array | Float64Array {
  if (!(constants.std > 0)) {
    throw new DatasetOptionError("std", `must be > 0, got ${constants.std}`);
  }
  const n = src.length;
  const tmp = new Float64Array(n);
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = (src[i] - constants.mean) / constants.std;
    tmp[i] = v;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const dst = out ?? new Float64Array(n);
  const range = hi - lo;
  for (let i = 0; i < n; i++) dst[i] = range > 0 ? ((tmp[i] - lo) / range) * 255 : 0;
  return dst;
}

/**
 * PIL's `Image.convert("L")` luminance of interleaved RGB(A) pixels:
 * `L = (19595·R + 38470·G + 7471·B + 0x8000) >> 16`.
 *
 * @param rgb Interleaved pixels with `channels` (3 or 4) values each.
 * @param channels 3 or 4.
 * @returns One uint8 value per pixel.
 * @example
 * ```ts
 * import { luminance } from "@vmunet/datasets";
 * console.assert(luminance(new Uint8Array([255, 255, 255]), 3)[0] === 255);
 * ```
 */
export function luminance(rgb: ArrayLike<number>, channels: number): Uint8Array {
  const n = Math.floor(rgb.length / channels);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = i * channels;
    out[i] = (19595 * rgb[p] + 38470 * rgb[p + 1] + 7471 * rgb[p + 2] + 0x8000) >>> 16;
  }
  return out;
}
