/**
 * Datasets of image/mask file pairs (ISIC and any folder of pairs; the readers of their
 * layouts on disk are in `@vmunet/datasets/fs`) and the official ISIC preprocessing:
 * `myNormalize` → (train) hflip p=.5, vflip p=.5, rotation p=.5 (TF.rotate, nearest, fill 0)
 * → bilinear `TF.resize` of image and mask → mask binarised at 0.5.
 *
 * @module
 */

import { DatasetLayoutError, DatasetOptionError } from "./errors.ts";
import { decodeImage, type RasterImage, toGrey8, toLabels, toRgb8 } from "./image_codec.ts";
import { Rng } from "./random.ts";
import type { Dataset, DatasetSpec, Sample } from "./sample.ts";
import type { NormalizeConstants } from "./transforms.ts";
import { linearTaps } from "./_linear_taps.ts";
import { roundHalfEven } from "./_round.ts";

/** One image file and its mask file. */
export interface FilePair {
  /** Sample name (the image's file stem). */
  name: string;
  /** Path of the image. */
  image: string;
  /** Path of the mask. */
  mask: string;
}

/** How rotation angles are drawn. */
export type RotationMode = "per-sample" | "official";

/** Preprocessing and augmentation options shared by ISIC and folder datasets. */
export interface PairPreprocessOptions {
  /** Output side length (default 256); `0` keeps each image's own size. */
  size?: number;
  /** Apply the train-time flips and rotation (default: true for the train split). */
  augment?: boolean;
  /** Probability of each of hflip, vflip, rotation (default 0.5). */
  augmentProbability?: number;
  /**
   * `"per-sample"` (default): a fresh seeded angle in [0, 360) per sample and epoch.
   * `"official"`: the official bug — one angle for the whole run (`officialAngle`, default
   * drawn once from `seed`).
   */
  rotation?: RotationMode;
  /** The fixed angle of `rotation: "official"`, degrees. */
  officialAngle?: number;
  /**
   * Keep the soft mask values of the bilinear resize (official VM-UNet behaviour) instead of
   * binarising them at ≥ 0.5 (default `false`: binarise).
   */
  softMasks?: boolean;
  /** `myNormalize` constants (they cancel up to rounding; default ISIC 2018 train). */
  normalization?: NormalizeConstants;
  /** Seed of the augmentation (default 42). */
  seed?: number;
}

/** Options of {@linkcode preprocessPair}, all resolved. */
export interface ResolvedPreprocess {
  /** Output side length or 0. */
  size: number;
  /** Augment or not. */
  augment: boolean;
  /** Probability of each augmentation. */
  probability: number;
  /** Rotation mode. */
  rotation: RotationMode;
  /** The fixed angle for `"official"`. */
  officialAngle: number;
  /** Soft masks or binarised. */
  softMasks: boolean;
  /** myNormalize constants. */
  normalization: NormalizeConstants;
  /** Seed. */
  seed: number;
  /** 1 = binary mask, > 1 = labels. */
  numClasses: number;
}

/** Fills in the defaults of {@linkcode PairPreprocessOptions}. */
export function resolvePreprocess(
  o: PairPreprocessOptions,
  train: boolean,
  numClasses: number,
  defaultNormalization: NormalizeConstants,
): ResolvedPreprocess {
  const seed = o.seed ?? 42;
  const size = o.size ?? 256;
  if (!Number.isInteger(size) || size < 0) {
    throw new DatasetOptionError("size", `must be an integer ≥ 0, got ${o.size}`);
  }
  const probability = o.augmentProbability ?? 0.5;
  if (!(probability >= 0 && probability <= 1)) {
    throw new DatasetOptionError("augmentProbability", `must be in [0, 1], got ${probability}`);
  }
  const rotation = o.rotation ?? "per-sample";
  if (rotation !== "per-sample" && rotation !== "official") {
    throw new DatasetOptionError(
      "rotation",
      `must be "per-sample" or "official", got ${JSON.stringify(rotation)}`,
    );
  }
  return {
    size,
    augment: o.augment ?? train,
    probability,
    rotation,
    officialAngle: o.officialAngle ?? Rng.derive(seed, "official-rotation-angle").range(0, 360),
    softMasks: o.softMasks ?? false,
    normalization: o.normalization ?? defaultNormalization,
    seed,
    numClasses,
  };
}

/** The augmentation drawn for one sample. */
export interface PairAugmentation {
  /** Horizontal flip. */
  hflip: boolean;
  /** Vertical flip. */
  vflip: boolean;
  /** Rotation angle in degrees, or `null` for none. */
  angle: number | null;
}

/**
 * The augmentation of sample `index` in `epoch`: a pure function of the seed, epoch and index
 * (draw order like the official transforms: hflip, vflip, rotation).
 */
export function drawPairAugmentation(
  p: ResolvedPreprocess,
  epoch: number,
  index: number,
): PairAugmentation {
  if (!p.augment) return { hflip: false, vflip: false, angle: null };
  const rng = Rng.derive(p.seed, "pair-augment", epoch, index);
  const hflip = rng.chance(p.probability);
  const vflip = rng.chance(p.probability);
  const rotate = rng.chance(p.probability);
  const perSample = rng.range(0, 360);
  return {
    hflip,
    vflip,
    angle: rotate ? (p.rotation === "official" ? p.officialAngle : perSample) : null,
  };
}

/**
 * For every output pixel, the flat source indices of its four bilinear taps in the original
 * image after hflip, vflip and `TF.rotate` (nearest, no expand), or -1 where the rotation
 * fills 0 — the same indices as applying the transforms one after the other. The rotation is
 * affine, so its x and y terms are computed once per tap column and row (the sums are the
 * same float64 operations as torchvision's grid, `x·a0 + y·a1`).
 */
function tapSources(
  height: number,
  width: number,
  ty: { i0: Int32Array; i1: Int32Array },
  tx: { i0: Int32Array; i1: Int32Array },
  aug: PairAugmentation,
): Int32Array[] {
  const oh = ty.i0.length, ow = tx.i0.length;
  const out = [0, 1, 2, 3].map(() => new Int32Array(oh * ow));
  const fy = (y: number) => (aug.vflip ? height - 1 - y : y);
  const fx = (x: number) => (aug.hflip ? width - 1 - x : x);
  const rows = [ty.i0, ty.i1], cols = [tx.i0, tx.i1];
  if (aug.angle === null) {
    for (let t = 0; t < 4; t++) {
      const r = rows[t >> 1], c = cols[t & 1], o = out[t];
      for (let oy = 0; oy < oh; oy++) {
        const base = fy(r[oy]) * width;
        for (let ox = 0; ox < ow; ox++) o[oy * ow + ox] = base + fx(c[ox]);
      }
    }
    return out;
  }
  const rot = (-aug.angle * Math.PI) / 180;
  const hw = 0.5 * width, hh = 0.5 * height;
  const a0 = Math.cos(rot) / hw,
    a1 = Math.sin(rot) / hw,
    b0 = -Math.sin(rot) / hh,
    b1 = Math.cos(rot) / hh;
  for (let t = 0; t < 4; t++) {
    const r = rows[t >> 1], c = cols[t & 1], o = out[t];
    const xa = new Float64Array(ow), xb = new Float64Array(ow);
    for (let ox = 0; ox < ow; ox++) {
      const x = -width * 0.5 + 0.5 + c[ox];
      xa[ox] = x * a0;
      xb[ox] = x * b0;
    }
    for (let oy = 0; oy < oh; oy++) {
      const y = -height * 0.5 + 0.5 + r[oy];
      const ya = y * a1, yb = y * b1;
      for (let ox = 0; ox < ow; ox++) {
        const ix = roundHalfEven(((xa[ox] + ya + 1) * width - 1) / 2);
        const iy = roundHalfEven(((xb[ox] + yb + 1) * height - 1) / 2);
        o[oy * ow + ox] = ix < 0 || ix >= width || iy < 0 || iy >= height
          ? -1
          : fy(iy) * width + fx(ix);
      }
    }
  }
  return out;
}

/**
 * The official ISIC preprocessing of one decoded pair: `myNormalize` on the RGB image, mask
 * `L/255`, the drawn flips and rotation at the original size, bilinear resize of both to
 * `size×size`, then the mask binarised at ≥ 0.5 (unless `softMasks`). Multi-class labels are
 * rotated with nearest and resized with nearest.
 *
 * The steps are fused: the normalisation is a 256-entry table (it is a per-image function of
 * the byte value), and flips and rotation are index maps evaluated only at the resize's
 * taps, which gives the same numbers as applying the transforms one after the other (checked
 * in `isic_test.ts`) at a fraction of the cost for 1024×768 inputs.
 *
 * @param rgb Interleaved RGB bytes `(H,W,3)`.
 * @param target Mask `L` bytes (binary) or class ids (labels), `(H,W)`.
 * @param height H.
 * @param width W.
 * @param p Resolved options.
 * @param aug The augmentation to apply.
 * @param name Sample name.
 * @returns The sample.
 * @example
 * ```ts
 * import { preprocessPair, resolvePreprocess } from "@vmunet/datasets";
 * const p = resolvePreprocess({ size: 4 }, false, 1, { mean: 0, std: 1 });
 * const rgb = new Uint8Array(2 * 2 * 3).map((_, i) => i * 20);
 * const s = preprocessPair(rgb, new Uint8Array([0, 255, 255, 0]), 2, 2, p, { hflip: false, vflip: false, angle: null }, "x");
 * console.assert(s.image.length === 3 * 16 && s.mask.length === 16);
 * ```
 */
export function preprocessPair(
  rgb: Uint8Array,
  target: Uint8Array | Int32Array,
  height: number,
  width: number,
  p: ResolvedPreprocess,
  aug: PairAugmentation,
  name: string,
): Sample {
  const n = height * width;
  if (rgb.length !== 3 * n || target.length !== n) {
    throw new DatasetOptionError(
      "rgb",
      `expected ${3 * n} RGB bytes and ${n} mask values for ${width}×${height}`,
    );
  }
  // myNormalize as a table: (v − mean)/std is monotonic in v, so its min/max sit at the byte
  // min/max, and each output is the same float64 expression as in myNormalize.
  let vmin = 255, vmax = 0;
  for (let i = 0; i < rgb.length; i++) {
    const v = rgb[i];
    if (v < vmin) vmin = v;
    if (v > vmax) vmax = v;
    if (vmin === 0 && vmax === 255) break; // the full range: nothing more to learn
  }
  const { mean, std } = p.normalization;
  const lo = (vmin - mean) / std, range = (vmax - mean) / std - lo;
  const lut = new Float64Array(256);
  for (let v = 0; v < 256; v++) lut[v] = range > 0 ? (((v - mean) / std - lo) / range) * 255 : 0;

  const S = p.size;
  const oh = S > 0 ? S : height, ow = S > 0 ? S : width;
  const ty = linearTaps(height, oh), tx = linearTaps(width, ow);
  const [s00, s01, s10, s11] = tapSources(height, width, ty, tx, aug);
  const plane = oh * ow;
  const image = new Float32Array(3 * plane);
  const binary = p.numClasses === 1;
  const maskOut = binary ? new Float32Array(plane) : new Int32Array(plane);
  const m = target;
  for (let oy = 0; oy < oh; oy++) {
    const h0 = ty.l1[oy], h1 = 1 - h0;
    for (let ox = 0; ox < ow; ox++) {
      const w0 = tx.l1[ox], w1 = 1 - w0;
      const o = oy * ow + ox;
      const i00 = s00[o], i01 = s01[o], i10 = s10[o], i11 = s11[o];
      for (let c = 0; c < 3; c++) {
        const v00 = i00 < 0 ? 0 : lut[rgb[i00 * 3 + c]], v01 = i01 < 0 ? 0 : lut[rgb[i01 * 3 + c]];
        const v10 = i10 < 0 ? 0 : lut[rgb[i10 * 3 + c]], v11 = i11 < 0 ? 0 : lut[rgb[i11 * 3 + c]];
        image[c * plane + o] = h1 * (w1 * v00 + w0 * v01) + h0 * (w1 * v10 + w0 * v11);
      }
      if (binary) {
        const v00 = i00 < 0 ? 0 : m[i00] / 255, v01 = i01 < 0 ? 0 : m[i01] / 255;
        const v10 = i10 < 0 ? 0 : m[i10] / 255, v11 = i11 < 0 ? 0 : m[i11] / 255;
        const v = h1 * (w1 * v00 + w0 * v01) + h0 * (w1 * v10 + w0 * v11);
        maskOut[o] = p.softMasks ? v : v >= 0.5 ? 1 : 0;
      }
    }
  }
  if (!binary) {
    // Labels: nearest resize (half-pixel centres) of the augmented label map.
    const near = (inSize: number, outSize: number) =>
      Int32Array.from(
        { length: outSize },
        (_, o) => Math.min(inSize - 1, Math.floor(((o + 0.5) * inSize) / outSize)),
      );
    const ny = near(height, oh), nx = near(width, ow);
    const [src] = tapSources(height, width, { i0: ny, i1: ny }, { i0: nx, i1: nx }, aug);
    for (let o = 0; o < plane; o++) maskOut[o] = src[o] < 0 ? 0 : m[src[o]];
  }
  return { name, channels: 3, height: oh, width: ow, image, mask: maskOut };
}

/** How a mask file's pixels become the target. */
export type MaskReading = "isic" | "binary" | "labels";

/** Decodes the mask raster into a binary-L or label target, checking label range. */
export function readTarget(
  img: RasterImage,
  mode: MaskReading,
  numClasses: number,
): Uint8Array | Int32Array {
  if (mode === "isic") return toGrey8(img);
  if (mode === "binary") {
    const grey = toGrey8(img);
    let max = 0;
    for (const v of grey) if (v > max) max = v;
    // 0/1 masks are scaled to 0/255; 0..255 masks keep their grey level (binarised at 0.5 later).
    if (max === 1) { for (let i = 0; i < grey.length; i++) grey[i] *= 255; }
    return grey;
  }
  const labels = toLabels(img);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= numClasses) {
      throw new DatasetLayoutError(
        img.file,
        `label ${labels[i]} at pixel ${i} is outside 0..${
          numClasses - 1
        } (numClasses ${numClasses})`,
      );
    }
  }
  return labels;
}

/** Reads one file's bytes (a path on disk, a URL, a dropped file's name). */
export type FileReader = (path: string) => Promise<Uint8Array>;

/**
 * A dataset over image/mask file pairs with the official ISIC preprocessing. Built by
 * `openIsic` and `openFolder` of `@vmunet/datasets/fs`, which read from disk; in a browser,
 * give a reader of fetched or dropped files.
 */
export class PairedImageDataset implements Dataset {
  /** The pairs, in index order. */
  readonly pairs: readonly FilePair[];
  /** Resolved preprocessing options. */
  readonly preprocess: ResolvedPreprocess;
  /** How masks are read. */
  readonly maskReading: MaskReading;
  /** The recipe that reopens this dataset. */
  readonly spec: DatasetSpec;
  /** Reads a file's bytes. */
  readonly readFile: FileReader;

  /** Wraps already-validated pairs (use the `open*` functions). */
  constructor(
    pairs: readonly FilePair[],
    preprocess: ResolvedPreprocess,
    maskReading: MaskReading,
    spec: DatasetSpec,
    readFile: FileReader,
  ) {
    this.pairs = pairs;
    this.preprocess = preprocess;
    this.maskReading = maskReading;
    this.spec = spec;
    this.readFile = readFile;
  }

  /** Number of pairs. */
  get length(): number {
    return this.pairs.length;
  }

  /** 1 (binary) or the number of label classes. */
  get numClasses(): number {
    return this.preprocess.numClasses;
  }

  /** Sample names (image stems). */
  get names(): readonly string[] {
    return this.pairs.map((p) => p.name);
  }

  /** Reads, decodes, preprocesses and augments pair `index` for `epoch`. */
  async get(index: number, epoch = 0): Promise<Sample> {
    const pair = this.pairs[index];
    if (!pair) throw new DatasetOptionError("index", `${index} is outside [0, ${this.length})`);
    const [imageBytes, maskBytes] = await Promise.all([
      this.readFile(pair.image),
      this.readFile(pair.mask),
    ]);
    return await this.fromBytes(index, epoch, imageBytes, maskBytes);
  }

  /** Decodes and preprocesses already-read file bytes of pair `index`. */
  async fromBytes(
    index: number,
    epoch: number,
    imageBytes: Uint8Array,
    maskBytes: Uint8Array,
  ): Promise<Sample> {
    const pair = this.pairs[index];
    const img = await decodeImage(imageBytes, pair.image);
    const msk = await decodeImage(maskBytes, pair.mask);
    if (img.width !== msk.width || img.height !== msk.height) {
      throw new DatasetLayoutError(
        pair.mask,
        `mask is ${msk.width}×${msk.height} but its image ${pair.image} is ${img.width}×${img.height}`,
      );
    }
    const target = readTarget(msk, this.maskReading, this.preprocess.numClasses);
    const aug = drawPairAugmentation(this.preprocess, epoch, index);
    return preprocessPair(
      toRgb8(img),
      target,
      img.height,
      img.width,
      this.preprocess,
      aug,
      pair.name,
    );
  }
}
