/**
 * Resampling exactly like the official pipelines: PyTorch's bilinear resize of tensors
 * (`TF.resize` in torchvision 0.14 on tensors = `F.interpolate(mode="bilinear",
 * align_corners=False)`, no antialiasing) for ISIC, and `scipy.ndimage.zoom` with spline
 * order 3 (images) and 0 (labels) for Synapse. Arrays are planar `(C,H,W)`, computed in
 * float64 and stored in the output array type.
 *
 * @module
 */

import { DatasetOptionError } from "./errors.ts";
import { linearTaps } from "./_linear_taps.ts";

/** A planar float array type accepted by the resamplers. */
export type FloatPlanes = Float32Array | Float64Array;

function checkShape(name: string, data: ArrayLike<number>, c: number, h: number, w: number) {
  if (!(h >= 1 && w >= 1 && c >= 1) || data.length !== c * h * w) {
    throw new DatasetOptionError(
      name,
      `array of length ${data.length} does not match shape (${c},${h},${w})`,
    );
  }
}

/**
 * Bilinear resize of planar `(C,H,W)` data like PyTorch (`align_corners=False`, half-pixel
 * centres, source index clamped at 0, no antialiasing).
 *
 * @param src Input planes.
 * @param channels C.
 * @param height Input H.
 * @param width Input W.
 * @param outHeight Output H.
 * @param outWidth Output W.
 * @param out Optional output `(C,outHeight,outWidth)` (a new Float32Array by default).
 * @returns The resized planes.
 * @example
 * ```ts
 * import { resizeBilinear } from "@vmunet/datasets";
 * const y = resizeBilinear(new Float32Array([0, 1, 2, 3]), 1, 2, 2, 4, 4);
 * console.assert(y.length === 16 && y[0] === 0 && y[15] === 3);
 * ```
 */
export function resizeBilinear(
  src: ArrayLike<number>,
  channels: number,
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
  out?: FloatPlanes,
): FloatPlanes {
  checkShape("src", src, channels, height, width);
  const dst = out ?? new Float32Array(channels * outHeight * outWidth);
  checkShape("out", dst, channels, outHeight, outWidth);
  const ty = linearTaps(height, outHeight), tx = linearTaps(width, outWidth);
  for (let c = 0; c < channels; c++) {
    const ib = c * height * width, ob = c * outHeight * outWidth;
    for (let oy = 0; oy < outHeight; oy++) {
      const r0 = ib + ty.i0[oy] * width, r1 = ib + ty.i1[oy] * width;
      const h0 = ty.l1[oy], h1 = 1 - h0;
      for (let ox = 0; ox < outWidth; ox++) {
        const a = tx.i0[ox], b = tx.i1[ox];
        const w0 = tx.l1[ox], w1 = 1 - w0;
        dst[ob + oy * outWidth + ox] = h1 * (w1 * src[r0 + a] + w0 * src[r0 + b]) +
          h0 * (w1 * src[r1 + a] + w0 * src[r1 + b]);
      }
    }
  }
  return dst;
}

/** Pole of the cubic B-spline prefilter. */
const Z3 = Math.sqrt(3) - 2;

/** In-place cubic B-spline prefilter of one line (scipy's mirror-symmetric initialisation). */
function splineFilterLine(c: Float64Array, n: number): void {
  if (n < 2) return;
  const z = Z3;
  const gain = (1 - z) * (1 - 1 / z);
  for (let i = 0; i < n; i++) c[i] *= gain;
  // Causal init, mirror boundary (scipy ni_splines.c _init_causal_mirror).
  const zn1 = Math.pow(z, n - 1);
  let zi = z;
  let c0 = c[0] + zn1 * c[n - 1];
  for (let i = 1; i < n - 1; i++) {
    c0 += zi * (c[i] + zn1 * c[n - 1 - i]);
    zi *= z;
  }
  c[0] = c0 / (1 - zn1 * zn1);
  for (let i = 1; i < n; i++) c[i] += z * c[i - 1];
  c[n - 1] = (z * c[n - 2] + c[n - 1]) * z / (z * z - 1);
  for (let i = n - 2; i >= 0; i--) c[i] = z * (c[i + 1] - c[i]);
}

/** Mirror an out-of-range spline index into [0, len) like scipy's edge offsets. */
function mirrorIndex(idx: number, len: number): number {
  if (len <= 1) return 0;
  const s2 = 2 * len - 2;
  if (idx < 0) {
    idx = s2 * Math.trunc(-idx / s2) + idx;
    idx = idx <= 1 - len ? idx + s2 : -idx;
  } else if (idx >= len) {
    idx -= s2 * Math.trunc(idx / s2);
    if (idx >= len) idx = s2 - idx;
  }
  return idx;
}

/** Output size of `scipy.ndimage.zoom(input, outSize / inSize)`: `round(in * (out / in))`. */
function zoomTaps(inSize: number, outSize: number, order: 0 | 3) {
  // scipy >= 1.6, grid_mode=False: zoom = (in - 1) / (out - 1); coordinate = k * zoom.
  const zoomFactor = outSize > 1 ? (inSize - 1) / (outSize - 1) : 1;
  const taps = order === 3 ? 4 : 1;
  const idx = new Int32Array(outSize * taps);
  const wts = new Float64Array(outSize * taps);
  const valid = new Uint8Array(outSize);
  for (let k = 0; k < outSize; k++) {
    const cc = k * zoomFactor;
    // mode='constant': coordinates outside [0, in-1] take the constant 0 (note 511.00000000000006
    // for 512 -> 224, which makes scipy's last row and column 0).
    if (cc < 0 || cc > inSize - 1) continue;
    valid[k] = 1;
    if (order === 0) {
      idx[k] = mirrorIndex(Math.floor(cc + 0.5), inSize);
      wts[k] = 1;
      continue;
    }
    const start = Math.floor(cc) - 1;
    const t = cc - Math.floor(cc);
    // Cubic B-spline weights at distances 1+t, t, 1-t, 2-t.
    const w1 = 2 / 3 - t * t + 0.5 * t * t * t;
    const u = 1 - t;
    const w2 = 2 / 3 - u * u + 0.5 * u * u * u;
    const w0 = (u * u * u) / 6;
    const w3 = (t * t * t) / 6;
    const ws = [w0, w1, w2, w3];
    for (let h = 0; h < 4; h++) {
      idx[k * 4 + h] = mirrorIndex(start + h, inSize);
      wts[k * 4 + h] = ws[h];
    }
  }
  return { idx, wts, valid, taps };
}

/**
 * `scipy.ndimage.zoom(x, (outHeight/height, outWidth/width), order)` for each plane of
 * `(C,H,W)` data, with scipy's defaults (`mode="constant"`, `cval=0`, `grid_mode=False`,
 * `prefilter=True`): order 3 = cubic B-spline with the mirror-symmetric prefilter, order 0 =
 * nearest (round half up).
 *
 * @param src Input planes.
 * @param channels C.
 * @param height Input H.
 * @param width Input W.
 * @param outHeight Output H.
 * @param outWidth Output W.
 * @param order 3 (images) or 0 (labels).
 * @param out Optional output array (a new Float32Array by default).
 * @returns The zoomed planes.
 * @example
 * ```ts
 * import { zoom } from "@vmunet/datasets";
 * const y = zoom(new Float32Array(16).fill(1), 1, 4, 4, 7, 7, 3);
 * console.assert(Math.abs(y[24] - 1) < 1e-6);
 * ```
 */
export function zoom(
  src: ArrayLike<number>,
  channels: number,
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
  order: 0 | 3,
  out?: FloatPlanes | Int32Array,
): FloatPlanes | Int32Array {
  if (order !== 0 && order !== 3) {
    throw new DatasetOptionError("order", `must be 0 or 3, got ${order}`);
  }
  checkShape("src", src, channels, height, width);
  const dst = out ?? new Float32Array(channels * outHeight * outWidth);
  checkShape("out", dst, channels, outHeight, outWidth);
  const ty = zoomTaps(height, outHeight, order), tx = zoomTaps(width, outWidth, order);
  const plane = new Float64Array(height * width);
  const line = new Float64Array(Math.max(height, width));
  for (let c = 0; c < channels; c++) {
    const ib = c * height * width;
    for (let i = 0; i < height * width; i++) plane[i] = src[ib + i];
    if (order === 3) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) line[x] = plane[y * width + x];
        splineFilterLine(line, width);
        for (let x = 0; x < width; x++) plane[y * width + x] = line[x];
      }
      for (let x = 0; x < width; x++) {
        for (let y = 0; y < height; y++) line[y] = plane[y * width + x];
        splineFilterLine(line, height);
        for (let y = 0; y < height; y++) plane[y * width + x] = line[y];
      }
    }
    const ob = c * outHeight * outWidth;
    const T = ty.taps;
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        let v = 0;
        if (ty.valid[oy] && tx.valid[ox]) {
          for (let a = 0; a < T; a++) {
            const row = ty.idx[oy * T + a] * width;
            let s = 0;
            for (let b = 0; b < T; b++) s += tx.wts[ox * T + b] * plane[row + tx.idx[ox * T + b]];
            v += ty.wts[oy * T + a] * s;
          }
        }
        dst[ob + oy * outWidth + ox] = v;
      }
    }
  }
  return dst;
}

/**
 * Nearest-neighbour resize of planar `(C,H,W)` data with half-pixel centres (source index
 * `floor((dst + 0.5) · in / out)`), for label maps.
 *
 * @param src Input planes.
 * @param channels C.
 * @param height Input H.
 * @param width Input W.
 * @param outHeight Output H.
 * @param outWidth Output W.
 * @returns The resized planes, same array type as `src`.
 * @example
 * ```ts
 * import { resizeNearest } from "@vmunet/datasets";
 * console.assert(resizeNearest(new Int32Array([1, 2]), 1, 1, 2, 1, 4).join() === "1,1,2,2");
 * ```
 */
export function resizeNearest<T extends Float32Array | Float64Array | Int32Array | Uint8Array>(
  src: T,
  channels: number,
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
): T {
  checkShape("src", src, channels, height, width);
  const out = new (src.constructor as { new (n: number): T })(channels * outHeight * outWidth);
  const xs = new Int32Array(outWidth);
  for (let x = 0; x < outWidth; x++) {
    xs[x] = Math.min(width - 1, Math.floor(((x + 0.5) * width) / outWidth));
  }
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < outHeight; y++) {
      const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / outHeight));
      const ib = (c * height + sy) * width, ob = (c * outHeight + y) * outWidth;
      for (let x = 0; x < outWidth; x++) out[ob + x] = src[ib + xs[x]];
    }
  }
  return out;
}
