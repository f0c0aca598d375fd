/**
 * PNG and JPEG decoding and PNG writing. PNG goes through `fast-png` (8/16-bit grey, grey+alpha,
 * RGB, RGBA and palette images, 1/2/4-bit depths unpacked). JPEG (baseline and progressive)
 * goes through `@jsquash/jpeg`, MozJPEG compiled to WebAssembly: a libjpeg-turbo derivative
 * whose pixels equal PIL's (libjpeg-turbo) on the test files; `jpeg-js` encodes test fixtures
 * and decodes the CMYK/YCCK JPEGs that MozJPEG cannot convert to RGB. Decoded rasters are interleaved (`H,W,channels`) like the files; the datasets
 * convert them to planar float tensors.
 *
 * @module
 */

import { convertIndexedToRgb, decode as pngDecode, encode as pngEncode } from "fast-png";
import mozjpegDecode, { init as mozjpegInit } from "@jsquash/jpeg/decode.js";
import jpeg from "jpeg-js";
import { DatasetOptionError, DecodeError } from "./errors.ts";
import { luminance } from "./transforms.ts";

/** A decoded raster image, interleaved `(H, W, channels)`. */
export interface RasterImage {
  /** The file (or name) it was decoded from. */
  file: string;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Values per pixel: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA (palette images are expanded). */
  channels: number;
  /** Bits per sample in the file (1, 2, 4, 8 or 16); `data` holds the raw sample values. */
  bitDepth: number;
  /** Sample values, interleaved; 16-bit files give a Uint16Array. */
  data: Uint8Array | Uint16Array;
  /** For palette PNGs: the palette index of each pixel (the class id of label masks). */
  indices?: Uint8Array;
}

/** Messages libjpeg printed during the current decode (warnings and the fatal error). */
const jpegMessages: string[] = [];
let jpegInitialised = false;

/** Routes libjpeg's console output into {@linkcode jpegMessages} instead of stdout/stderr. */
function initJpeg(): void {
  if (jpegInitialised) return;
  jpegInitialised = true;
  const keep = (m: string) => void jpegMessages.push(String(m).trim());
  mozjpegInit({ print: keep, printErr: keep } as Parameters<typeof mozjpegInit>[0]);
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Whether `bytes` start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Whether `bytes` start with a JPEG SOI marker. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function unpackBits(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  depth: number,
): Uint8Array {
  const out = new Uint8Array(width * height * channels);
  const rowBytes = Math.ceil((width * channels * depth) / 8);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < width * channels; i++) {
      const bit = i * depth;
      const byte = data[y * rowBytes + (bit >> 3)];
      out[y * width * channels + i] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/**
 * Decodes a PNG file.
 *
 * @param bytes The file's bytes.
 * @param file Name used in error messages.
 * @returns The raster (palette expanded to RGB/RGBA, palette indices kept in `indices`).
 * @throws {DecodeError} when the bytes are not a complete, valid PNG.
 * @example
 * ```ts
 * import { decodePng, encodePng } from "@vmunet/datasets";
 * const bytes = encodePng({ width: 2, height: 1, channels: 1, data: new Uint8Array([0, 255]) });
 * console.assert(decodePng(bytes, "mask.png").data[1] === 255);
 * ```
 */
export function decodePng(bytes: Uint8Array, file: string): RasterImage {
  if (!isPng(bytes)) throw new DecodeError(file, "not a PNG file (bad signature)");
  let png;
  try {
    png = pngDecode(bytes, { checkCrc: true });
  } catch (e) {
    throw new DecodeError(file, `corrupt or truncated PNG: ${(e as Error).message}`, { cause: e });
  }
  const { width, height } = png;
  if (!(width > 0 && height > 0)) {
    throw new DecodeError(file, `PNG has an empty size ${width}×${height}`);
  }
  if (png.palette) {
    const raw = png.data as Uint8Array;
    const indices = png.depth < 8
      ? unpackBits(raw, width, height, 1, png.depth)
      : raw.slice(0, width * height);
    const maxIndex = indices.reduce((m, v) => Math.max(m, v), 0);
    if (maxIndex >= png.palette.length) {
      throw new DecodeError(
        file,
        `palette index ${maxIndex} outside the palette of ${png.palette.length} colours`,
      );
    }
    const rgb = convertIndexedToRgb(png as Parameters<typeof convertIndexedToRgb>[0]);
    const channels = rgb.length / (width * height);
    return { file, width, height, channels, bitDepth: 8, data: rgb, indices };
  }
  const channels = png.channels;
  let data = png.data as Uint8Array | Uint16Array;
  if (png.depth < 8) data = unpackBits(data as Uint8Array, width, height, channels, png.depth);
  if (data.length < width * height * channels) {
    throw new DecodeError(
      file,
      `truncated PNG: ${data.length} samples for ${width}×${height}×${channels}`,
    );
  }
  return { file, width, height, channels, bitDepth: png.depth, data };
}

/**
 * Decodes a baseline or progressive JPEG file to RGB with MozJPEG (greyscale JPEGs are
 * replicated to RGB and EXIF orientation is ignored, like PIL's `Image.open(…).convert("RGB")`).
 * CMYK and YCCK JPEGs (Photoshop, print workflows) are converted to RGB as PIL converts them,
 * with the Adobe convention of inverted samples.
 *
 * @param bytes The file's bytes.
 * @param file Name used in error messages.
 * @returns The RGB raster.
 * @throws {DecodeError} when the bytes are not a complete, valid JPEG.
 * @example
 * ```ts
 * import { decodeJpeg, encodeJpeg } from "@vmunet/datasets";
 * const rgb = new Uint8Array(8 * 8 * 3).fill(128);
 * const img = await decodeJpeg(encodeJpeg(rgb, 8, 8), "a.jpg");
 * console.assert(img.channels === 3 && Math.abs(img.data[0] - 128) <= 2);
 * ```
 */
export async function decodeJpeg(bytes: Uint8Array, file: string): Promise<RasterImage> {
  if (!isJpeg(bytes)) throw new DecodeError(file, "not a JPEG file (no SOI marker)");
  // libjpeg only warns about a missing end (and pads the image with grey): check it first.
  if (!hasEndOfImage(bytes)) throw new DecodeError(file, "truncated JPEG: no end-of-image marker");
  const frame = jpegFrame(bytes, file);
  if (!frame) throw new DecodeError(file, "corrupt or truncated JPEG: no frame header");
  if (frame.width * frame.height > 400e6) {
    throw new DecodeError(file, `JPEG of ${frame.width}×${frame.height} exceeds 400 megapixels`);
  }
  if (frame.components === 4) return decodeCmykJpeg(bytes, file, frame);
  initJpeg();
  let img: { width: number; height: number; data: Uint8ClampedArray };
  jpegMessages.length = 0;
  try {
    img = await mozjpegDecode(bytes.slice().buffer);
  } catch (e) {
    // libjpeg reports through its message callback; the thrown value is an opaque ExitStatus.
    const why = jpegMessages.filter((m) => m.length > 0).join("; ") ||
      (e instanceof Error ? e.message : "decoder failed");
    throw new DecodeError(file, `corrupt JPEG: ${why}`, { cause: e });
  }
  const { width, height } = img;
  if (!(width > 0 && height > 0) || img.data.length !== width * height * 4) {
    throw new DecodeError(
      file,
      `JPEG decoded to ${img.data.length} bytes for ${width}×${height} RGBA`,
    );
  }
  const n = width * height;
  const data = new Uint8Array(n * 3);
  const rgba = img.data; // ImageData.data is an accessor: read it once, not per pixel
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    data[i * 3] = rgba[j];
    data[i * 3 + 1] = rgba[j + 1];
    data[i * 3 + 2] = rgba[j + 2];
  }
  return { file, width, height, channels: 3, bitDepth: 8, data };
}

/** Whether an EOI marker (FF D9) lies within the last 4 KiB (trailing padding is tolerated). */
function hasEndOfImage(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 2; i >= Math.max(2, bytes.length - 4096); i--) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) return true;
  }
  return false;
}

/**
 * Decodes a PNG or JPEG file, chosen by its signature.
 *
 * @param bytes The file's bytes.
 * @param file Name used in error messages.
 * @returns The raster.
 * @throws {DecodeError} for other formats and corrupt files.
 * @example
 * ```ts
 * import { decodeImage, encodePng } from "@vmunet/datasets";
 * const bytes = encodePng({ width: 1, height: 1, channels: 3, data: new Uint8Array([1, 2, 3]) });
 * console.assert((await decodeImage(bytes, "x.png")).channels === 3);
 * ```
 */
export async function decodeImage(bytes: Uint8Array, file: string): Promise<RasterImage> {
  if (isPng(bytes)) return decodePng(bytes, file);
  if (isJpeg(bytes)) return await decodeJpeg(bytes, file);
  if (bytes.length === 0) throw new DecodeError(file, "empty file");
  throw new DecodeError(file, "neither a PNG nor a JPEG file (unknown signature)");
}

/**
 * The width and height of a PNG or JPEG from its header, without decoding the pixels.
 *
 * @param bytes The file's first bytes (the whole file for JPEGs with large metadata).
 * @param file Name used in error messages.
 * @returns `[width, height]`, or `null` when the header is not within `bytes`.
 * @throws {DecodeError} for other formats.
 * @example
 * ```ts
 * import { encodePng, imageSize } from "@vmunet/datasets";
 * const bytes = encodePng({ width: 3, height: 2, channels: 1, data: new Uint8Array(6) });
 * console.assert(imageSize(bytes, "m.png")!.join() === "3,2");
 * ```
 */
export function imageSize(bytes: Uint8Array, file: string): [number, number] | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isPng(bytes)) {
    if (bytes.length < 24) return null;
    return [view.getUint32(16), view.getUint32(20)];
  }
  if (isJpeg(bytes)) {
    const frame = jpegFrame(bytes, file);
    return frame && [frame.width, frame.height];
  }
  throw new DecodeError(file, "neither a PNG nor a JPEG file (unknown signature)");
}

/** A JPEG's frame header (SOF): size and number of colour components. */
interface JpegFrame {
  width: number;
  height: number;
  /** 1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK. */
  components: number;
}

/** The frame header of a JPEG, or `null` when it is not within `bytes`. */
function jpegFrame(bytes: Uint8Array, file: string): JpegFrame | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 2;
  while (p + 9 < bytes.length) {
    if (bytes[p] !== 0xff) {
      throw new DecodeError(file, `corrupt JPEG: expected a marker at byte ${p}`);
    }
    const marker = bytes[p + 1];
    if (marker === 0xff) {
      p++;
      continue;
    }
    const len = view.getUint16(p + 2);
    if (
      marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc
    ) {
      return {
        width: view.getUint16(p + 7),
        height: view.getUint16(p + 5),
        components: bytes[p + 9],
      };
    }
    p += 2 + len;
  }
  return null;
}

/**
 * An Adobe APP14 marker with transform 0: put first, it makes a 4-component JPEG read with the
 * Adobe convention (inverted CMYK samples, what Photoshop and PIL write and PIL assumes); a
 * later Adobe marker of the file itself (e.g. YCCK, transform 2) still takes precedence.
 */
const ADOBE_APP14 = [
  0xff,
  0xee,
  0x00,
  0x0e,
  ...[..."Adobe"].map((c) => c.charCodeAt(0)),
  0x00,
  0x64,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
];

/**
 * Decodes a CMYK or YCCK JPEG to RGB as PIL's `convert("RGB")` does: R = (255 − C)(255 − K)/255
 * with the Adobe convention. MozJPEG's WebAssembly build cannot convert four components to
 * RGB, so these go through `jpeg-js` (pixels within a few levels of libjpeg's).
 */
function decodeCmykJpeg(bytes: Uint8Array, file: string, frame: JpegFrame): RasterImage {
  const marked = new Uint8Array(bytes.length + ADOBE_APP14.length);
  marked.set(bytes.subarray(0, 2));
  marked.set(ADOBE_APP14, 2);
  marked.set(bytes.subarray(2), 2 + ADOBE_APP14.length);
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(marked, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: 400,
      maxMemoryUsageInMB: 4096,
    });
  } catch (e) {
    throw new DecodeError(file, `corrupt CMYK JPEG: ${(e as Error).message}`, { cause: e });
  }
  const { width, height } = img;
  if (width !== frame.width || height !== frame.height || img.data.length !== width * height * 3) {
    throw new DecodeError(
      file,
      `CMYK JPEG decoded to ${img.data.length} bytes for ${width}×${height} RGB`,
    );
  }
  return { file, width, height, channels: 3, bitDepth: 8, data: img.data };
}

/**
 * RGB uint8 pixels like PIL's `convert("RGB")`: grey is replicated, alpha dropped, 16-bit
 * samples take their high byte, 1/2/4-bit samples are scaled to 0–255.
 *
 * @param img A decoded raster.
 * @returns Interleaved RGB bytes `(H, W, 3)` (the raster's own array when it is 8-bit RGB).
 * @example
 * ```ts
 * import { toRgb8 } from "@vmunet/datasets";
 * const img = { file: "g.png", width: 1, height: 1, channels: 1, bitDepth: 8, data: new Uint8Array([7]) };
 * console.assert(toRgb8(img).join() === "7,7,7");
 * ```
 */
export function toRgb8(img: RasterImage): Uint8Array {
  if (img.channels === 3 && img.bitDepth === 8) return img.data as Uint8Array;
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  const c = img.channels;
  const scale = scaleTo8(img.bitDepth);
  for (let i = 0; i < n; i++) {
    if (c >= 3) {
      for (let k = 0; k < 3; k++) out[i * 3 + k] = scale(img.data[i * c + k]);
    } else {
      const v = scale(img.data[i * c]);
      out[i * 3] = v;
      out[i * 3 + 1] = v;
      out[i * 3 + 2] = v;
    }
  }
  return out;
}

function scaleTo8(depth: number): (v: number) => number {
  if (depth === 8) return (v) => v;
  if (depth === 16) return (v) => v >> 8;
  const max = (1 << depth) - 1;
  return (v) => Math.round((v * 255) / max);
}

/**
 * Grey uint8 pixels like PIL's `convert("L")` (the mask path of the official ISIC loader):
 * RGB(A) goes through the ITU-R 601 luminance, grey is kept, 16-bit takes the high byte,
 * 1/2/4-bit are scaled to 0–255.
 *
 * @param img A decoded raster.
 * @returns One byte per pixel.
 * @example
 * ```ts
 * import { toGrey8 } from "@vmunet/datasets";
 * const img = { file: "m.png", width: 1, height: 1, channels: 3, bitDepth: 8, data: new Uint8Array([255, 255, 255]) };
 * console.assert(toGrey8(img)[0] === 255);
 * ```
 */
export function toGrey8(img: RasterImage): Uint8Array {
  if (img.channels === 1 && img.bitDepth === 8) return (img.data as Uint8Array).slice();
  if (img.channels >= 3) {
    return luminance(
      img.bitDepth === 8 ? img.data : toRgb8(img),
      img.bitDepth === 8 ? img.channels : 3,
    );
  }
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const scale = scaleTo8(img.bitDepth);
  for (let i = 0; i < n; i++) out[i] = scale(img.data[i * img.channels]);
  return out;
}

/**
 * Class ids of a label image: palette PNGs give their palette indices, grey PNGs their raw
 * values; colour images must be grey-valued (R = G = B).
 *
 * @param img A decoded raster.
 * @returns One class id per pixel.
 * @throws {DecodeError} for colour label images that are not grey-valued.
 * @example
 * ```ts
 * import { toLabels } from "@vmunet/datasets";
 * const img = { file: "l.png", width: 2, height: 1, channels: 1, bitDepth: 8, data: new Uint8Array([0, 3]) };
 * console.assert(toLabels(img).join() === "0,3");
 * ```
 */
export function toLabels(img: RasterImage): Int32Array {
  const n = img.width * img.height;
  if (img.indices) return Int32Array.from(img.indices);
  const out = new Int32Array(n);
  const c = img.channels;
  for (let i = 0; i < n; i++) {
    const v = img.data[i * c];
    if (c >= 3 && (img.data[i * c + 1] !== v || img.data[i * c + 2] !== v)) {
      throw new DecodeError(
        img.file,
        `label image has colour pixel (${img.data[i * c]},${img.data[i * c + 1]},${
          img.data[i * c + 2]
        }) at index ${i}; use grey or palette PNGs for labels`,
      );
    }
    out[i] = v;
  }
  return out;
}

/** Pixels to encode as PNG. */
export interface PngInput {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. */
  channels: number;
  /** Interleaved samples; a Uint16Array writes a 16-bit PNG. */
  data: Uint8Array | Uint16Array;
  /** Optional palette (writes an indexed PNG; `data` holds indices, `channels` must be 1). */
  palette?: number[][];
}

/**
 * Encodes pixels as a PNG file.
 *
 * @param img The pixels.
 * @returns The PNG bytes.
 * @example
 * ```ts
 * import { encodePng } from "@vmunet/datasets";
 * const bytes = encodePng({ width: 1, height: 1, channels: 4, data: new Uint8Array([1, 2, 3, 255]) });
 * console.assert(bytes[1] === 0x50);
 * ```
 */
export function encodePng(img: PngInput): Uint8Array {
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new DatasetOptionError(
      "data",
      `length ${img.data.length} ≠ ${img.width}×${img.height}×${img.channels}`,
    );
  }
  const depth = img.data instanceof Uint16Array ? 16 : 8;
  return pngEncode({
    width: img.width,
    height: img.height,
    channels: img.channels,
    data: img.data,
    depth,
    ...(img.palette ? { palette: img.palette } : {}),
  });
}

/**
 * Encodes interleaved RGB pixels as a baseline JPEG (used by tests and the prepare command's
 * fixtures).
 *
 * @param rgb Interleaved RGB bytes `(H, W, 3)`.
 * @param width Width.
 * @param height Height.
 * @param quality 1–100 (default 90).
 * @returns The JPEG bytes.
 * @example
 * ```ts
 * import { encodeJpeg } from "@vmunet/datasets";
 * console.assert(encodeJpeg(new Uint8Array(12), 2, 2)[0] === 0xff);
 * ```
 */
export function encodeJpeg(
  rgb: Uint8Array,
  width: number,
  height: number,
  quality = 90,
): Uint8Array {
  if (rgb.length !== width * height * 3) {
    throw new DatasetOptionError("rgb", `length ${rgb.length} ≠ ${width}×${height}×3`);
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba[i * 4] = rgb[i * 3];
    rgba[i * 4 + 1] = rgb[i * 3 + 1];
    rgba[i * 4 + 2] = rgb[i * 3 + 2];
    rgba[i * 4 + 3] = 255;
  }
  return withBufferFrom(() =>
    new Uint8Array(jpeg.encode({ width, height, data: rgba }, quality).data)
  );
}

/**
 * Runs `encode` where `Buffer.from` exists. jpeg-js's encoder ends with `Buffer.from(bytes)`
 * whenever a CommonJS `module` is in scope — always the case in a bundle — so in a page (no
 * Node `Buffer`) it would throw. When `globalThis.Buffer` is missing, a stand-in whose `from`
 * copies the byte array into a `Uint8Array` is set for this synchronous call only and
 * removed after it.
 */
function withBufferFrom<T>(encode: () => T): T {
  const scope = globalThis as { Buffer?: unknown };
  if (scope.Buffer !== undefined) return encode();
  scope.Buffer = { from: (bytes: ArrayLike<number>) => Uint8Array.from(bytes) };
  try {
    return encode();
  } finally {
    delete scope.Buffer;
  }
}
