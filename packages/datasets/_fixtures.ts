/**
 * Test fixtures: small datasets written to a temporary folder in each supported layout
 * (tests only).
 *
 * @module
 */

import { encodeJpeg, encodePng } from "./image_codec.ts";

/** A deterministic test image and its mask: the red channel is 255 exactly on the mask. */
export function pairPixels(
  width: number,
  height: number,
  seed: number,
): { rgb: Uint8Array; mask: Uint8Array } {
  const rgb = new Uint8Array(width * height * 3);
  const mask = new Uint8Array(width * height);
  const cx = width * (0.3 + 0.1 * (seed % 4)), cy = height * 0.5, r = Math.min(width, height) * 0.3;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const inside = (x + 0.5 - cx) ** 2 / 1.5 + (y + 0.5 - cy) ** 2 < r * r;
      mask[i] = inside ? 255 : 0;
      rgb[i * 3] = inside ? 255 : 0;
      rgb[i * 3 + 1] = (x * 7 + seed * 13) % 256;
      rgb[i * 3 + 2] = (y * 11 + seed * 5) % 256;
    }
  }
  return { rgb, mask };
}

/** Writes an RGB image as PNG or JPEG. */
export async function writeRgb(
  path: string,
  rgb: Uint8Array,
  width: number,
  height: number,
): Promise<void> {
  const bytes = path.endsWith(".png")
    ? encodePng({ width, height, channels: 3, data: rgb })
    : encodeJpeg(rgb, width, height, 95);
  await Deno.writeFile(path, bytes);
}

/** Writes a grey mask PNG. */
export async function writeMask(
  path: string,
  mask: Uint8Array,
  width: number,
  height: number,
): Promise<void> {
  await Deno.writeFile(path, encodePng({ width, height, channels: 1, data: mask }));
}

/** The sizes of the fixture pairs (several sizes, portrait and landscape). */
export const FIXTURE_SIZES: readonly [number, number][] = [[40, 30], [37, 29], [25, 25], [30, 44], [
  33,
  21,
]];
