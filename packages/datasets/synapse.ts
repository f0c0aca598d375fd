/**
 * Synapse multi-organ CT (TransUNet preprocessing): training slices
 * `<root>/train_npz/caseXXXX_sliceYYY.npz` (keys `image`, `label`, 512×512), test volumes
 * `<root>/test_vol_h5/caseXXXX.npy.h5` (keys `image`, `label`, (D,512,512)) and the list files
 * `<root>/lists/lists_Synapse/{train,test_vol}.txt`.
 *
 * Training augmentation follows TransUNet's `RandomGenerator`: with p = 0.5 `rot90(k)` +
 * `flip(axis)`, else with p = 0.5 `ndimage.rotate(angle ∈ [−20, 19], order=0, reshape=False)`
 * of image and label; then `zoom` to 224 (image order 3, label order 0). Images stay in the
 * dataset's [0, 1], one channel (VM-UNet repeats it to 3 inside the model).
 *
 * @module
 */

import { readFile } from "./_fs.ts";
import { listCases, SLICES, VOLUMES } from "./_synapse_cases.ts";
import {
  checkSynapsePair,
  validateSliceHeaders,
  validateVolumeHeaders,
} from "./_synapse_headers.ts";
import { DatasetLayoutError, DatasetOptionError } from "./errors.ts";
import { readHdf5 } from "./hdf5.ts";
import { type NdArray, readNpz } from "./npy.ts";
import { Rng } from "./random.ts";
import { zoom } from "./resize.ts";
import type { Dataset, DatasetSpec, Sample } from "./sample.ts";
import { flipHorizontal, flipVertical, rot90, rotateNdimageNearest } from "./transforms.ts";

/** Number of Synapse classes: background + 8 organs. */
export const SYNAPSE_CLASSES: number = 9;

/** Organ names of labels 0..8. */
export const SYNAPSE_LABELS: readonly string[] = [
  "background",
  "aorta",
  "gallbladder",
  "kidney_left",
  "kidney_right",
  "liver",
  "pancreas",
  "spleen",
  "stomach",
];

/** Options of {@linkcode openSynapse}. */
export interface SynapseOptions {
  /** The `Synapse` folder holding `train_npz/`, `test_vol_h5/` and `lists/`. */
  root: string;
  /** Folder of the list files (default `<root>/lists/lists_Synapse`, else `lists/list_Synapse`). */
  listDir?: string;
  /** Output side length (default 224). */
  size?: number;
  /** Apply TransUNet's augmentation (default true). */
  augment?: boolean;
  /** Image channels: 1 (default, like the official loader) or 3 (repeated). */
  channels?: 1 | 3;
  /** Seed of the augmentation (default 42). */
  seed?: number;
  /**
   * Check every file's headers when opening (default true): the npz members `image` and
   * `label` (float image, equal shapes) or the HDF5 datasets, without reading the arrays.
   */
  validate?: boolean;
}

function toLabels(file: string, label: NdArray): Int32Array {
  const out = new Int32Array(label.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = label.data[i];
    if (!(v >= 0 && v < SYNAPSE_CLASSES) || v !== Math.floor(v)) {
      throw new DatasetLayoutError(
        file,
        `label ${v} at index ${i} is not a class id 0..${SYNAPSE_CLASSES - 1}`,
      );
    }
    out[i] = v;
  }
  return out;
}

/** The augmentation drawn for one Synapse slice. */
export interface SynapseAugmentation {
  /** `"rot-flip"`, `"rotate"` or `"none"`. */
  kind: "rot-flip" | "rotate" | "none";
  /** Quarter turns of `rot90` (rot-flip). */
  k: number;
  /** Flip axis 0 (rows) or 1 (columns) (rot-flip). */
  axis: number;
  /** Rotation angle in whole degrees, −20..19 (rotate). */
  angle: number;
}

/** TransUNet's `RandomGenerator` draw for slice `index` in `epoch` (a pure function). */
export function drawSynapseAugmentation(
  seed: number,
  epoch: number,
  index: number,
): SynapseAugmentation {
  const rng = Rng.derive(seed, "synapse-augment", epoch, index);
  if (rng.uniform() > 0.5) {
    return { kind: "rot-flip", k: rng.int(0, 4), axis: rng.int(0, 2), angle: 0 };
  }
  if (rng.uniform() > 0.5) return { kind: "rotate", k: 0, axis: 0, angle: rng.int(-20, 20) };
  return { kind: "none", k: 0, axis: 0, angle: 0 };
}

/**
 * TransUNet's training transform of one slice: the augmentation, then `zoom` to `size`
 * (order 3 image, order 0 label) when the slice is not already `size×size`.
 *
 * @param image Slice `(H,W)` in [0, 1].
 * @param label Class ids `(H,W)`.
 * @param height H.
 * @param width W.
 * @param aug The augmentation.
 * @param size Output side length.
 * @returns Image `(size,size)` Float32 and labels `(size,size)` Int32.
 */
export function transformSynapseSlice(
  image: Float32Array,
  label: Int32Array,
  height: number,
  width: number,
  aug: SynapseAugmentation,
  size: number,
): { image: Float32Array; label: Int32Array } {
  let img = image, lab = label, h = height, w = width;
  if (aug.kind === "rot-flip") {
    img = rot90(img, 1, h, w, aug.k);
    lab = rot90(lab, 1, h, w, aug.k);
    if (aug.k % 2 === 1) [h, w] = [w, h];
    const flip = aug.axis === 0 ? flipVertical : flipHorizontal;
    img = flip(img, 1, h, w);
    lab = flip(lab, 1, h, w);
  } else if (aug.kind === "rotate") {
    img = rotateNdimageNearest(img, 1, h, w, aug.angle);
    lab = rotateNdimageNearest(lab, 1, h, w, aug.angle);
  }
  if (h !== size || w !== size) {
    img = zoom(img, 1, h, w, size, size, 3) as Float32Array;
    lab = zoom(lab, 1, h, w, size, size, 0, new Int32Array(size * size)) as Int32Array;
  }
  return { image: img, label: lab };
}

/** Synapse training slices (`train.txt` over `train_npz/`). Built by {@linkcode openSynapse}. */
export class SynapseSliceDataset implements Dataset {
  /** Slice names from the list file. */
  readonly names: readonly string[];
  /** Paths of the npz files. */
  readonly files: readonly string[];
  /** Always 9. */
  readonly numClasses: number = SYNAPSE_CLASSES;
  /** Output side length. */
  readonly size: number;
  /** Whether slices are augmented. */
  readonly augment: boolean;
  /** Image channels. */
  readonly channels: 1 | 3;
  /** Augmentation seed. */
  readonly seed: number;
  /** The recipe that reopens this dataset. */
  readonly spec: DatasetSpec;

  /** Wraps checked files (use {@linkcode openSynapse}). */
  constructor(names: string[], files: string[], options: SynapseOptions) {
    this.names = names;
    this.files = files;
    this.size = options.size ?? 224;
    this.augment = options.augment ?? true;
    this.channels = options.channels ?? 1;
    this.seed = options.seed ?? 42;
    this.spec = {
      kind: "synapse",
      options: { ...options, validate: false } as Record<string, unknown>,
    };
  }

  /** Number of slices. */
  get length(): number {
    return this.files.length;
  }

  /** Reads slice `index` and applies the training transform for `epoch`. */
  async get(index: number, epoch = 0): Promise<Sample> {
    const file = this.files[index];
    if (!file) throw new DatasetOptionError("index", `${index} is outside [0, ${this.length})`);
    const arrays = readNpz(await readFile(file), file, ["image", "label"]);
    checkSynapsePair(file, arrays.image, arrays.label, 2);
    const [h, w] = arrays.image.shape;
    const image = Float32Array.from(arrays.image.data);
    const label = toLabels(file, arrays.label);
    const aug = this.augment
      ? drawSynapseAugmentation(this.seed, epoch, index)
      : { kind: "none" as const, k: 0, axis: 0, angle: 0 };
    const out = transformSynapseSlice(image, label, h, w, aug, this.size);
    const S = this.size;
    let img = out.image;
    if (this.channels === 3) {
      img = new Float32Array(3 * S * S);
      for (let c = 0; c < 3; c++) img.set(out.image, c * S * S);
    }
    return {
      name: this.names[index],
      channels: this.channels,
      height: S,
      width: S,
      image: img,
      mask: out.label,
    };
  }
}

/**
 * Opens the Synapse training slices listed in `train.txt` (or, without list files, every
 * `train_npz/*.npz`).
 *
 * @param options Folder and transform options.
 * @returns The dataset (images `(1,224,224)`, labels `Int32Array (224,224)` by default).
 * @throws {DatasetLayoutError} for a missing folder, an empty list or a listed slice without
 * its npz file; with `validate`, {@linkcode MissingKeyError} or {@linkcode DecodeError} naming
 * the first slice whose headers are bad.
 * @example
 * ```ts
 * import { encodeNpz } from "@vmunet/datasets";
 * import { openSynapse } from "@vmunet/datasets/fs";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/train_npz`);
 * const image = { dtype: "float32", shape: [8, 8], data: new Float32Array(64).fill(0.5) };
 * const label = { dtype: "float32", shape: [8, 8], data: new Float32Array(64).fill(3) };
 * await Deno.writeFile(`${root}/train_npz/case0005_slice000.npz`, encodeNpz({ image, label }));
 * const ds = await openSynapse({ root, size: 16 });
 * const s = await ds.get(0);
 * console.assert(s.height === 16 && s.mask[0] === 3);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function openSynapse(options: SynapseOptions): Promise<SynapseSliceDataset> {
  const size = options.size ?? 224;
  if (!Number.isInteger(size) || size < 1) {
    throw new DatasetOptionError("size", `must be a positive integer, got ${options.size}`);
  }
  if (options.channels !== undefined && options.channels !== 1 && options.channels !== 3) {
    throw new DatasetOptionError("channels", `must be 1 or 3, got ${options.channels}`);
  }
  const { names, files } = await listCases(options.root, options.listDir, SLICES);
  if (options.validate ?? true) await validateSliceHeaders(files);
  return new SynapseSliceDataset(names, files, options);
}

/** One Synapse test volume. */
export interface SynapseVolume {
  /** Case name, e.g. `case0001`. */
  name: string;
  /** Slices D. */
  depth: number;
  /** Height H. */
  height: number;
  /** Width W. */
  width: number;
  /** CT values in [0, 1], `(D,H,W)`. */
  image: Float32Array;
  /** Class ids, `(D,H,W)`. */
  label: Int32Array;
}

/** One slice of a volume prepared for the network, with its full-resolution labels. */
export interface VolumeSlice {
  /** Slice index in the volume. */
  index: number;
  /** `zoom(slice, size/H, order=3)`, `(1,size,size)`. */
  image: Float32Array;
  /** The slice's labels at full resolution `(H,W)`. */
  label: Int32Array;
}

/** The Synapse test volumes of `test_vol.txt`. Built by {@linkcode openSynapseVolumes}. */
export class SynapseVolumes {
  /** Case names. */
  readonly names: readonly string[];
  /** Paths of the `.npy.h5` files. */
  readonly files: readonly string[];

  /** Wraps checked files (use {@linkcode openSynapseVolumes}). */
  constructor(names: string[], files: string[]) {
    this.names = names;
    this.files = files;
  }

  /** Number of volumes. */
  get length(): number {
    return this.files.length;
  }

  /** Reads volume `index`. */
  async read(index: number): Promise<SynapseVolume> {
    const file = this.files[index];
    if (!file) throw new DatasetOptionError("index", `${index} is outside [0, ${this.length})`);
    const { image, label } = await readHdf5(file, ["image", "label"]);
    checkSynapsePair(file, image, label, 3);
    const [depth, height, width] = image.shape;
    return {
      name: this.names[index],
      depth,
      height,
      width,
      image: Float32Array.from(image.data),
      label: toLabels(file, label),
    };
  }
}

/**
 * The slices of a test volume prepared like the official `test_single_volume`: each slice
 * zoomed to `size` with order 3; labels stay at full resolution (predictions are zoomed back
 * with order 0, see {@linkcode zoomLabelsBack}).
 *
 * @param volume A volume from {@linkcode SynapseVolumes.read}.
 * @param size Network input side (default 224).
 * @returns The slices, first to last.
 */
export function* volumeSlices(volume: SynapseVolume, size = 224): Generator<VolumeSlice> {
  const { height: h, width: w } = volume;
  for (let d = 0; d < volume.depth; d++) {
    const plane = volume.image.subarray(d * h * w, (d + 1) * h * w);
    const image = h === size && w === size
      ? plane.slice()
      : zoom(plane, 1, h, w, size, size, 3) as Float32Array;
    yield { index: d, image, label: volume.label.slice(d * h * w, (d + 1) * h * w) };
  }
}

/**
 * Zooms a predicted label map back to the volume's resolution with order 0, like the official
 * `zoom(out, (x / 224, y / 224), order=0)`.
 *
 * @param pred Predicted class ids `(size,size)`.
 * @param size Its side length.
 * @param height Target H.
 * @param width Target W.
 * @returns Class ids `(height,width)`.
 * @example
 * ```ts
 * import { zoomLabelsBack } from "@vmunet/datasets/fs";
 * console.assert(zoomLabelsBack(new Int32Array([1, 2, 3, 4]), 2, 4, 4)[15] === 4);
 * ```
 */
export function zoomLabelsBack(
  pred: Int32Array,
  size: number,
  height: number,
  width: number,
): Int32Array {
  return zoom(pred, 1, size, size, height, width, 0, new Int32Array(height * width)) as Int32Array;
}

/**
 * Opens the Synapse test volumes listed in `test_vol.txt` (or every `test_vol_h5/*.npy.h5`).
 *
 * @param options `root`, optional `listDir` and `validate` (default true: check every
 * volume's HDF5 dataset headers now).
 * @returns The volumes (read lazily).
 * @throws {DatasetLayoutError} for a missing folder or a listed case without its file; with
 * `validate`, {@linkcode MissingKeyError} or {@linkcode DecodeError} naming the first bad volume.
 */
export async function openSynapseVolumes(
  options: Pick<SynapseOptions, "root" | "listDir" | "validate">,
): Promise<SynapseVolumes> {
  const { names, files } = await listCases(options.root, options.listDir, VOLUMES);
  if (options.validate ?? true) await validateVolumeHeaders(files);
  return new SynapseVolumes(names, files);
}
