/**
 * Datasets of image/mask file pairs (ISIC and any folder of pairs) and the official ISIC
 * preprocessing: `myNormalize` → (train) hflip p=.5, vflip p=.5, rotation p=.5 (TF.rotate,
 * nearest, fill 0) → bilinear `TF.resize` of image and mask → mask binarised at 0.5.
 *
 * @module
 */

import { readFile, readImageSize } from "./_fs.ts";
import { DatasetLayoutError, DatasetOptionError } from "./errors.ts";
import { decodeImage, type RasterImage, toGrey8, toLabels, toRgb8 } from "./image_codec.ts";
import { Rng } from "./random.ts";
import { resizeBilinear, resizeNearest } from "./resize.ts";
import type { Dataset, DatasetSpec, Sample } from "./sample.ts";
import {
  flipHorizontal,
  flipVertical,
  myNormalize,
  type NormalizeConstants,
  rotateNearest,
} from "./transforms.ts";

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
 * The official ISIC preprocessing of one decoded pair: `myNormalize` on the RGB image, mask
 * `L/255`, the drawn flips and rotation at the original size, bilinear resize of both to
 * `size×size`, then the mask binarised at ≥ 0.5 (unless `softMasks`). Multi-class labels are
 * rotated with nearest and resized with nearest.
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
  // myNormalize on HWC (min/max over all values), then HWC -> CHW.
  const norm = myNormalize(rgb, p.normalization);
  let image: Float64Array = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    image[i] = norm[i * 3];
    image[n + i] = norm[i * 3 + 1];
    image[2 * n + i] = norm[i * 3 + 2];
  }
  const binary = p.numClasses === 1;
  let mask: Float64Array | Int32Array = binary
    ? Float64Array.from(target as Uint8Array, (v) => v / 255)
    : Int32Array.from(target);
  if (aug.hflip) {
    image = flipHorizontal(image, 3, height, width);
    mask = flipHorizontal(mask, 1, height, width);
  }
  if (aug.vflip) {
    image = flipVertical(image, 3, height, width);
    mask = flipVertical(mask, 1, height, width);
  }
  if (aug.angle !== null) {
    image = rotateNearest(image, 3, height, width, aug.angle);
    mask = rotateNearest(mask, 1, height, width, aug.angle);
  }
  const S = p.size;
  const oh = S > 0 ? S : height, ow = S > 0 ? S : width;
  const outImage = resizeBilinear(image, 3, height, width, oh, ow) as Float32Array;
  let outMask: Float32Array | Int32Array;
  if (binary) {
    outMask = resizeBilinear(mask, 1, height, width, oh, ow) as Float32Array;
    if (!p.softMasks) {
      for (let i = 0; i < outMask.length; i++) {
        outMask[i] = outMask[i] >= 0.5 ? 1 : 0;
      }
    }
  } else {
    outMask = resizeNearest(mask as Int32Array, 1, height, width, oh, ow);
  }
  return { name, channels: 3, height: oh, width: ow, image: outImage, mask: outMask };
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

/**
 * Checks at open time, from the file headers only, that every mask has its image's size.
 *
 * @throws {DatasetLayoutError} naming the mask whose size differs.
 */
export async function validatePairSizes(pairs: readonly FilePair[]): Promise<void> {
  const queue = pairs.slice();
  const worker = async () => {
    for (let pair = queue.shift(); pair; pair = queue.shift()) {
      const [iw, ih] = await readImageSize(pair.image);
      const [mw, mh] = await readImageSize(pair.mask);
      if (iw !== mw || ih !== mh) {
        throw new DatasetLayoutError(
          pair.mask,
          `mask is ${mw}×${mh} but its image ${pair.image} is ${iw}×${ih}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/**
 * A dataset over image/mask file pairs with the official ISIC preprocessing. Built by
 * {@linkcode openIsic} and {@linkcode openFolder}.
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

  /** Wraps already-validated pairs (use the `open*` functions). */
  constructor(
    pairs: readonly FilePair[],
    preprocess: ResolvedPreprocess,
    maskReading: MaskReading,
    spec: DatasetSpec,
  ) {
    this.pairs = pairs;
    this.preprocess = preprocess;
    this.maskReading = maskReading;
    this.spec = spec;
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
    const [imageBytes, maskBytes] = await Promise.all([readFile(pair.image), readFile(pair.mask)]);
    return this.fromBytes(index, epoch, imageBytes, maskBytes);
  }

  /** Decodes and preprocesses already-read file bytes of pair `index`. */
  fromBytes(index: number, epoch: number, imageBytes: Uint8Array, maskBytes: Uint8Array): Sample {
    const pair = this.pairs[index];
    const img = decodeImage(imageBytes, pair.image);
    const msk = decodeImage(maskBytes, pair.mask);
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
