/**
 * The sample and batch format every dataset of this package produces.
 *
 * Layout is channel-first, row-major, like PyTorch: an image is `(C, H, W)`, a batch
 * `(B, C, H, W)`. Targets come in two kinds, told apart by their array type:
 *
 * - binary segmentation (ISIC, binary folders, synthetic; `numClasses === 1`): a
 *   `Float32Array` of shape `(1, H, W)` with values in [0, 1] (exactly {0, 1} unless soft
 *   masks were asked for), batched as `(B, 1, H, W)`;
 * - multi-class segmentation (Synapse, label folders; `numClasses > 1`): an `Int32Array` of
 *   class ids of shape `(H, W)`, batched as `(B, H, W)`.
 *
 * @module
 */

import { DatasetError, DatasetOptionError } from "./errors.ts";

/** The target of one sample: a binary mask `(1,H,W)` or class labels `(H,W)`. */
export type Target = Float32Array | Int32Array;

/** One preprocessed example: an image `(C,H,W)` and its target, both at the same `H×W`. */
export interface Sample {
  /** Identifies the example (file stem, case and slice, or synthetic index). */
  name: string;
  /** Image channels C (3 for RGB, 1 for CT). */
  channels: number;
  /** Image height H. */
  height: number;
  /** Image width W. */
  width: number;
  /** Pixels, channel-first `(C,H,W)`. */
  image: Float32Array;
  /** Binary mask `Float32Array (1,H,W)` or labels `Int32Array (H,W)`. */
  mask: Target;
}

/** A stack of samples of equal shape. */
export interface Batch {
  /** Names of the samples, in batch order. */
  names: string[];
  /** Dataset indices of the samples, in batch order. */
  indices: Int32Array;
  /** Batch size B. */
  size: number;
  /** Channels C. */
  channels: number;
  /** Height H. */
  height: number;
  /** Width W. */
  width: number;
  /** Images `(B,C,H,W)`. */
  images: Float32Array;
  /** Binary masks `Float32Array (B,1,H,W)` or labels `Int32Array (B,H,W)`. */
  masks: Target;
}

/**
 * A JSON-serialisable recipe from which {@linkcode openDataset} rebuilds a dataset, also
 * inside a Web Worker. `kind` selects the dataset family, `options` are its constructor
 * options.
 */
export interface DatasetSpec {
  /** `"synthetic"`, `"isic"`, `"folder"`, `"synapse"` or `"synapse-volume"`. */
  kind: string;
  /** The options the dataset was opened with (plain JSON). */
  options: Record<string, unknown>;
}

/** A random-access dataset of preprocessed samples. */
export interface Dataset {
  /** Number of samples. */
  readonly length: number;
  /** 1 for binary masks, otherwise the number of classes (background included). */
  readonly numClasses: number;
  /** The recipe that reopens this dataset (used by the loader's workers). */
  readonly spec: DatasetSpec;
  /** Names of all samples, in index order. */
  readonly names: readonly string[];
  /**
   * Loads, preprocesses and (for training splits) augments sample `index`. The augmentation is
   * a pure function of the dataset's seed, `epoch` and `index`.
   */
  get(index: number, epoch?: number): Promise<Sample>;
}

/**
 * Stacks samples of equal shape into a batch.
 *
 * @param samples The samples, all with the same C, H, W and target kind.
 * @param indices Their dataset indices (defaults to 0..B-1).
 * @returns The batch `(B,C,H,W)` with its masks.
 * @example
 * ```ts
 * import { stackSamples } from "@vmunet/datasets";
 * const s = { name: "a", channels: 1, height: 1, width: 2, image: new Float32Array([1, 2]), mask: new Float32Array([0, 1]) };
 * const b = stackSamples([s, { ...s, name: "b" }]);
 * console.assert(b.images.length === 4 && b.size === 2);
 * ```
 */
export function stackSamples(samples: readonly Sample[], indices?: ArrayLike<number>): Batch {
  if (samples.length === 0) throw new DatasetOptionError("samples", "cannot stack an empty batch");
  const { channels, height, width } = samples[0];
  const binary = samples[0].mask instanceof Float32Array;
  const plane = height * width;
  const images = new Float32Array(samples.length * channels * plane);
  const masks = binary
    ? new Float32Array(samples.length * plane)
    : new Int32Array(samples.length * plane);
  samples.forEach((s, b) => {
    if (s.channels !== channels || s.height !== height || s.width !== width) {
      throw new DatasetError(
        `sample ${s.name} has shape (${s.channels},${s.height},${s.width}), batch expects ` +
          `(${channels},${height},${width})`,
      );
    }
    if ((s.mask instanceof Float32Array) !== binary || s.mask.length !== plane) {
      throw new DatasetError(`sample ${s.name}: mask kind or length differs from the batch's`);
    }
    images.set(s.image, b * channels * plane);
    masks.set(s.mask, b * plane);
  });
  return {
    names: samples.map((s) => s.name),
    indices: Int32Array.from(indices ?? samples.map((_, i) => i)),
    size: samples.length,
    channels,
    height,
    width,
    images,
    masks,
  };
}
