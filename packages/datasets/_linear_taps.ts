/**
 * PyTorch's linear source-index computation (`area_pixel_compute_source_index`,
 * align_corners=False), shared by the bilinear resizes.
 *
 * @module
 */

/** Source index and weights of torch's `area_pixel_compute_source_index` (linear). */
export function linearTaps(
  inSize: number,
  outSize: number,
): { i0: Int32Array; i1: Int32Array; l1: Float64Array } {
  const scale = inSize / outSize;
  const i0 = new Int32Array(outSize), i1 = new Int32Array(outSize);
  const l1 = new Float64Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const src = Math.max(scale * (o + 0.5) - 0.5, 0);
    const a = Math.floor(src);
    i0[o] = a;
    i1[o] = a < inSize - 1 ? a + 1 : a;
    l1[o] = src - a;
  }
  return { i0, i1, l1 };
}
