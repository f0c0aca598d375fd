/**
 * Any folder of image/mask pairs: `<root>/images/*` and `<root>/masks/*`, paired by file stem
 * (a mask may add `_mask`, `_segmentation`, `_seg` or `_label` to the image's stem). Binary
 * masks (0/255 or 0/1 grey PNGs) or multi-class label PNGs (grey values or palette indices are
 * class ids), with a seeded train/val split.
 *
 * @module
 */

import { isDir, join, listFiles, readFile, validatePairSizes } from "./_fs.ts";
import { DatasetLayoutError, DatasetOptionError } from "./errors.ts";
import {
  type FilePair,
  PairedImageDataset,
  type PairPreprocessOptions,
  resolvePreprocess,
} from "./paired.ts";
import { splitPart } from "./split.ts";

/** Options of {@linkcode openFolder}. */
export interface FolderOptions extends PairPreprocessOptions {
  /** The dataset folder. */
  root: string;
  /** Images sub-folder (default `"images"`). */
  imagesDir?: string;
  /** Masks sub-folder (default `"masks"`). */
  masksDir?: string;
  /** 1 (default) for binary masks, otherwise the number of classes including background. */
  numClasses?: number;
  /** `"all"` (default), `"train"` or `"val"` of a seeded split. */
  split?: "all" | "train" | "val";
  /** Validation fraction of the split (default 0.2). */
  valFraction?: number;
  /** Check mask sizes against image sizes from the headers when opening (default true). */
  validate?: boolean;
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

/**
 * Opens a folder of image/mask pairs, preprocessed like ISIC (per-image min–max to [0, 255],
 * bilinear resize to `size`, masks binarised at 0.5 or labels resized nearest; flips and
 * rotation on the train split).
 *
 * @param options Folder, split and preprocessing options.
 * @returns The dataset.
 * @throws {DatasetLayoutError} for a missing or empty folder, an image without mask, a mask
 * of another size, or (when read) a label outside `0..numClasses-1`.
 * @example
 * ```ts
 * import { encodePng } from "@vmunet/datasets";
 * import { openFolder } from "@vmunet/datasets/fs";
 * const root = await Deno.makeTempDir();
 * for (const d of ["images", "masks"]) await Deno.mkdir(`${root}/${d}`);
 * await Deno.writeFile(`${root}/images/a.png`, encodePng({ width: 2, height: 2, channels: 3, data: new Uint8Array(12).map((_, i) => i) }));
 * await Deno.writeFile(`${root}/masks/a_mask.png`, encodePng({ width: 2, height: 2, channels: 1, data: new Uint8Array([0, 1, 2, 1]) }));
 * const ds = await openFolder({ root, numClasses: 3, size: 4 });
 * console.assert((await ds.get(0)).mask instanceof Int32Array);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function openFolder(options: FolderOptions): Promise<PairedImageDataset> {
  const numClasses = options.numClasses ?? 1;
  if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > 256) {
    throw new DatasetOptionError(
      "numClasses",
      `must be an integer in 1..256, got ${options.numClasses}`,
    );
  }
  const split = options.split ?? "all";
  if (!["all", "train", "val"].includes(split)) {
    throw new DatasetOptionError("split", `must be all, train or val, got ${split}`);
  }
  const imgDir = join(options.root, options.imagesDir ?? "images");
  const mskDir = join(options.root, options.masksDir ?? "masks");
  for (const d of [imgDir, mskDir]) {
    if (!(await isDir(d))) throw new DatasetLayoutError(d, "folder not found");
  }
  const images = (await listFiles(imgDir)).filter((n) => IMAGE_EXT.test(n));
  const masks = (await listFiles(mskDir)).filter((n) => IMAGE_EXT.test(n));
  if (images.length === 0) {
    throw new DatasetLayoutError(imgDir, "empty folder: no .png/.jpg images");
  }
  if (masks.length === 0) throw new DatasetLayoutError(mskDir, "empty folder: no .png masks");
  const byStem = new Map<string, string>();
  for (const m of masks) {
    const s = m.replace(/\.[^.]+$/, "");
    byStem.set(s, m);
    const bare = s.replace(/_(segmentation|mask|seg|label)$/i, "");
    if (!byStem.has(bare) || bare !== s) byStem.set(bare, m);
  }
  const all: FilePair[] = images.map((n) => {
    const s = n.replace(/\.[^.]+$/, "");
    const m = byStem.get(s);
    if (!m) {
      throw new DatasetLayoutError(
        join(imgDir, n),
        `image without mask: no ${s}.png (or ${s}_mask.png) in ${mskDir}`,
      );
    }
    return { name: s, image: join(imgDir, n), mask: join(mskDir, m) };
  });
  const pairs = split === "all"
    ? all
    : splitPart(all, split, options.valFraction ?? 0.2, options.seed ?? 42, options.root);
  if (options.validate ?? true) await validatePairSizes(pairs);
  const preprocess = resolvePreprocess(options, split === "train", numClasses, { mean: 0, std: 1 });
  const spec = {
    kind: "folder",
    options: { ...options, validate: false } as Record<string, unknown>,
  };
  return new PairedImageDataset(
    pairs,
    preprocess,
    numClasses === 1 ? "binary" : "labels",
    spec,
    readFile,
  );
}
