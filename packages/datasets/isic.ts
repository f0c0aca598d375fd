/**
 * ISIC 2017 / 2018 skin-lesion segmentation in the two layouts people have:
 *
 * - the official VM-UNet layout `<root>/train/images`, `<root>/train/masks`, `<root>/val/…`
 *   (pairs by sorted file name, like the official `NPY_datasets`);
 * - the original ISIC release layout: `ISIC_0000000.jpg` images and
 *   `ISIC_0000000_segmentation.png` masks anywhere up to two folders below `root` (pairs by
 *   id; the train/val parts are a seeded split, 7:3 by default).
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
import { ISIC_NORMALIZATION } from "./transforms.ts";

/** Options of {@linkcode openIsic}. */
export interface IsicOptions extends PairPreprocessOptions {
  /** The dataset folder. */
  root: string;
  /** `"train"` (default), `"val"` (the official test split) or `"all"` (release layout only). */
  split?: "train" | "val" | "all";
  /** `"auto"` (default) detects `<root>/<split>/images`; else `"official"` or `"release"`. */
  layout?: "auto" | "official" | "release";
  /** Which constants `myNormalize` uses (default `"isic18"`); irrelevant up to rounding. */
  version?: "isic17" | "isic18";
  /** Validation fraction of the seeded split of the release layout (default 0.3). */
  valFraction?: number;
  /** Check every mask's size against its image's from the headers when opening (default true). */
  validate?: boolean;
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

function stem(name: string): string {
  return name.replace(/\.[^.]+$/, "");
}

function maskStem(name: string): string {
  return stem(name).replace(/_(segmentation|mask|seg|label)$/i, "");
}

/** Pairs sorted images with sorted masks by position, like the official loader. */
async function officialPairs(root: string, split: "train" | "val"): Promise<FilePair[]> {
  const imgDir = join(root, split, "images"), mskDir = join(root, split, "masks");
  for (const d of [imgDir, mskDir]) {
    if (!(await isDir(d))) {
      throw new DatasetLayoutError(
        d,
        "folder not found (official layout: <root>/{train,val}/{images,masks})",
      );
    }
  }
  const images = (await listFiles(imgDir)).filter((n) => IMAGE_EXT.test(n));
  const masks = (await listFiles(mskDir)).filter((n) => IMAGE_EXT.test(n));
  if (images.length === 0) {
    throw new DatasetLayoutError(imgDir, "empty folder: no .png/.jpg images");
  }
  if (masks.length === 0) throw new DatasetLayoutError(mskDir, "empty folder: no .png masks");
  if (images.length !== masks.length) {
    const maskStems = new Set(masks.map(maskStem));
    const imageStems = new Set(images.map(stem));
    const lone = images.find((n) => !maskStems.has(stem(n)));
    if (lone) {
      throw new DatasetLayoutError(
        join(imgDir, lone),
        `image without mask in ${mskDir} (${images.length} images, ${masks.length} masks)`,
      );
    }
    const loneMask = masks.find((n) => !imageStems.has(maskStem(n)));
    throw new DatasetLayoutError(
      loneMask ? join(mskDir, loneMask) : mskDir,
      `${loneMask ? "mask without image; " : ""}${images.length} images but ${masks.length} masks`,
    );
  }
  return images.map((n, i) => ({
    name: stem(n),
    image: join(imgDir, n),
    mask: join(mskDir, masks[i]),
  }));
}

async function collect(dir: string, depth: number, out: string[]): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith(".") || e.name === "__MACOSX") continue;
    const p = join(dir, e.name);
    if (e.isDirectory && depth > 0) await collect(p, depth - 1, out);
    else if (e.isFile) out.push(p);
  }
}

/** The ISIC release files under a folder, by ISIC id. */
export interface ReleaseFiles {
  /** `ISIC_<id>.jpg|png` images by id (`ISIC_0000000`). */
  images: Map<string, string>;
  /** `ISIC_<id>_segmentation.png` ground-truth masks by id. */
  masks: Map<string, string>;
}

/**
 * Finds the ISIC release images and ground-truth masks up to two folders below `root`
 * (`ISIC_<id>.jpg` and `ISIC_<id>_segmentation.png`), without pairing them: the test inputs
 * of a release come without masks.
 *
 * @param root The folder.
 * @returns Images and masks by ISIC id.
 * @throws {DatasetLayoutError} when the folder does not exist.
 * @example
 * ```ts
 * import { releaseFiles } from "@vmunet/datasets/fs";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/ISIC_0000001.jpg`, "");
 * await Deno.writeTextFile(`${root}/ISIC_0000001_segmentation.png`, "");
 * const { images, masks } = await releaseFiles(root);
 * if (images.size !== 1 || !masks.get("ISIC_0000001")?.endsWith("_segmentation.png")) {
 *   throw new Error("expected one image and its mask");
 * }
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function releaseFiles(root: string): Promise<ReleaseFiles> {
  if (!(await isDir(root))) throw new DatasetLayoutError(root, "folder not found");
  const files: string[] = [];
  await collect(root, 2, files);
  const images = new Map<string, string>(), masks = new Map<string, string>();
  for (const f of files) {
    const base = f.slice(f.lastIndexOf("/") + 1);
    let m = /^(ISIC_\d+)_segmentation\.png$/i.exec(base);
    if (m) {
      masks.set(m[1], f);
      continue;
    }
    m = /^(ISIC_\d+)\.(jpe?g|png)$/i.exec(base);
    if (m) images.set(m[1], f);
  }
  return { images, masks };
}

/** Finds ISIC release images and masks under `root` and pairs them by ISIC id. */
export async function releasePairs(root: string): Promise<FilePair[]> {
  const { images, masks } = await releaseFiles(root);
  if (images.size === 0) {
    throw new DatasetLayoutError(
      root,
      "empty folder: no ISIC_<id>.jpg images found (release layout)",
    );
  }
  const ids = [...images.keys()].sort();
  for (const id of ids) {
    if (!masks.has(id)) {
      throw new DatasetLayoutError(
        images.get(id)!,
        `image without mask: ${id}_segmentation.png not found under ${root}`,
      );
    }
  }
  for (const [id, path] of masks) {
    if (!images.has(id)) {
      throw new DatasetLayoutError(path, `mask without image: ${id}.jpg not found under ${root}`);
    }
  }
  return ids.map((id) => ({ name: id, image: images.get(id)!, mask: masks.get(id)! }));
}

/**
 * Opens an ISIC 2017/2018 split with the official preprocessing (train: augmented).
 *
 * @param options Folder, split, layout and preprocessing options.
 * @returns The dataset (masks `(1,256,256)` in {0,1} by default).
 * @throws {DatasetLayoutError} for a missing or empty folder, an image without mask, or a mask
 * whose size differs from its image's.
 * @example
 * ```ts
 * import { encodePng } from "@vmunet/datasets";
 * import { openIsic } from "@vmunet/datasets/fs";
 * const root = await Deno.makeTempDir();
 * for (const d of ["images", "masks"]) await Deno.mkdir(`${root}/val/${d}`, { recursive: true });
 * await Deno.writeFile(`${root}/val/images/a.png`, encodePng({ width: 4, height: 3, channels: 3, data: new Uint8Array(36).map((_, i) => i) }));
 * await Deno.writeFile(`${root}/val/masks/a.png`, encodePng({ width: 4, height: 3, channels: 1, data: new Uint8Array(12).fill(255) }));
 * const ds = await openIsic({ root, split: "val", size: 8 });
 * const s = await ds.get(0);
 * console.assert(s.image.length === 3 * 64 && s.mask[0] === 1);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function openIsic(options: IsicOptions): Promise<PairedImageDataset> {
  const split = options.split ?? "train";
  if (!["train", "val", "all"].includes(split)) {
    throw new DatasetOptionError("split", `must be train, val or all, got ${split}`);
  }
  const version = options.version ?? "isic18";
  if (version !== "isic17" && version !== "isic18") {
    throw new DatasetOptionError("version", `must be isic17 or isic18, got ${version}`);
  }
  let layout = options.layout ?? "auto";
  if (layout === "auto") {
    layout = (await isDir(join(options.root, "train", "images"))) ||
        (await isDir(join(options.root, "val", "images")))
      ? "official"
      : "release";
  }
  let pairs: FilePair[];
  if (layout === "official") {
    if (split === "all") {
      throw new DatasetOptionError("split", `"all" needs the release layout; use train or val`);
    }
    pairs = await officialPairs(options.root, split);
  } else if (layout === "release") {
    const all = await releasePairs(options.root);
    pairs = split === "all"
      ? all
      : splitPart(all, split, options.valFraction ?? 0.3, options.seed ?? 42, options.root);
  } else {
    throw new DatasetOptionError("layout", `must be auto, official or release, got ${layout}`);
  }
  if (options.validate ?? true) await validatePairSizes(pairs);
  const train = split === "train";
  const norm = ISIC_NORMALIZATION[version][train ? "train" : "test"];
  const preprocess = resolvePreprocess(options, train, 1, norm);
  const spec = {
    kind: "isic",
    options: { ...options, layout, validate: false } as Record<string, unknown>,
  };
  return new PairedImageDataset(pairs, preprocess, "isic", spec, readFile);
}
