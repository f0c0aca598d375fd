/**
 * `prepare`: turns the original ISIC 2017 / 2018 challenge archives that the user already has
 * (no network) into the official VM-UNet layout `<out>/{train,val}/{images,masks}` with a
 * seeded 7:3 split, like the paper's (README: "divided into a 7:3 ratio").
 *
 * Images and masks of all given archives are pooled (e.g. ISIC 2017 training + validation +
 * test = 2,750 images, or training + validation = 2,150 like the paper), paired by ISIC id,
 * split, and written into a staging folder that is renamed to `<out>` at the end, so an
 * interrupted run never leaves a half-written dataset. Images keep their original JPEG bytes
 * (lossless; both loaders read JPEG) unless `--png` asks for PNG copies.
 *
 * ```sh
 * deno run -A jsr:@vmunet/datasets/prepare --out data/isic2018 \
 *   ISIC2018_Task1-2_Training_Input.zip ISIC2018_Task1_Training_GroundTruth.zip
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { isDir, join } from "./_fs.ts";
import { type ZipEntry, ZipReader } from "./_zip.ts";
import { DatasetLayoutError, DatasetOptionError } from "./errors.ts";
import { decodeImage, encodePng, toRgb8 } from "./image_codec.ts";
import { seededSplit } from "./split.ts";

/** Options of {@linkcode prepareIsic}. */
export interface PrepareIsicOptions {
  /** Zip archives holding `ISIC_<id>.jpg` images and `ISIC_<id>_segmentation.png` masks. */
  archives: string[];
  /** Output folder (must not exist unless `force`). */
  out: string;
  /** Seed of the split (default 42). */
  seed?: number;
  /** Validation (= official test) fraction (default 0.3). */
  valFraction?: number;
  /** Exact number of validation pairs (overrides `valFraction`; e.g. 650 for ISIC 2017). */
  valCount?: number;
  /** Re-encode images as PNG (default false: keep the JPEG bytes). */
  png?: boolean;
  /** Replace an existing `out` folder. */
  force?: boolean;
  /** Called after each written pair (for progress output). */
  onProgress?: (done: number, total: number) => void;
}

/** What {@linkcode prepareIsic} wrote. */
export interface PrepareIsicResult {
  /** Number of training pairs. */
  train: number;
  /** Number of validation (test) pairs. */
  val: number;
  /** The output folder. */
  out: string;
}

interface Located {
  reader: ZipReader;
  entry: ZipEntry;
}

/**
 * Builds the official layout from ISIC archives.
 *
 * @param options Archives, output folder and split.
 * @returns Counts of the written parts.
 * @throws {DatasetLayoutError} for an image without mask (naming the archive entry), archives
 * without ISIC images, or an existing output folder.
 * @example
 * ```ts
 * import { zipSync } from "npm:fflate@^0.8.2";
 * import { encodeJpeg, encodePng } from "@vmunet/datasets";
 * import { prepareIsic } from "@vmunet/datasets/prepare";
 * const dir = await Deno.makeTempDir();
 * const files: Record<string, Uint8Array> = {};
 * for (let i = 0; i < 10; i++) {
 *   files[`in/ISIC_000000${i}.jpg`] = encodeJpeg(new Uint8Array(4 * 4 * 3), 4, 4);
 *   files[`gt/ISIC_000000${i}_segmentation.png`] = encodePng({ width: 4, height: 4, channels: 1, data: new Uint8Array(16) });
 * }
 * await Deno.writeFile(`${dir}/isic.zip`, zipSync(files));
 * const r = await prepareIsic({ archives: [`${dir}/isic.zip`], out: `${dir}/isic2018` });
 * console.assert(r.train === 7 && r.val === 3);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function prepareIsic(options: PrepareIsicOptions): Promise<PrepareIsicResult> {
  if (options.archives.length === 0) {
    throw new DatasetOptionError("archives", "give at least one zip archive");
  }
  const out = options.out.replace(/\/+$/, "");
  if (!options.force) {
    try {
      await Deno.stat(out);
      throw new DatasetLayoutError(out, "output folder exists (use --force to replace it)");
    } catch (e) {
      if (e instanceof DatasetLayoutError) throw e;
    }
  }
  const readers: ZipReader[] = [];
  try {
    const images = new Map<string, Located>(), masks = new Map<string, Located>();
    for (const path of options.archives) {
      const reader = await ZipReader.open(path);
      readers.push(reader);
      for (const entry of reader.entries) {
        const base = entry.name.slice(entry.name.lastIndexOf("/") + 1);
        if (entry.name.includes("__MACOSX/") || base.startsWith("._")) continue;
        let m = /^(ISIC_\d+)_segmentation\.png$/i.exec(base);
        if (m) {
          masks.set(m[1], { reader, entry });
          continue;
        }
        m = /^(ISIC_\d+)\.(jpe?g|png)$/i.exec(base);
        if (m) images.set(m[1], { reader, entry });
      }
    }
    if (images.size === 0) {
      throw new DatasetLayoutError(
        options.archives.join(", "),
        "no ISIC_<id>.jpg images in the archives",
      );
    }
    const ids = [...images.keys()].sort();
    for (const id of ids) {
      if (!masks.has(id)) {
        const { reader, entry } = images.get(id)!;
        throw new DatasetLayoutError(
          `${reader.path}:${entry.name}`,
          `image without mask: no ${id}_segmentation.png in the archives`,
        );
      }
    }
    const valFraction = options.valCount !== undefined
      ? options.valCount / ids.length
      : options.valFraction ?? 0.3;
    if (
      options.valCount !== undefined &&
      !(Number.isInteger(options.valCount) && options.valCount >= 0 &&
        options.valCount < ids.length)
    ) {
      throw new DatasetOptionError(
        "valCount",
        `must be an integer in [0, ${ids.length}), got ${options.valCount}`,
      );
    }
    const split = seededSplit(ids.length, valFraction, options.seed ?? 42);
    const staging = `${out}.partial-${crypto.randomUUID().slice(0, 8)}`;
    try {
      for (const part of ["train", "val"]) {
        for (const d of ["images", "masks"]) {
          await Deno.mkdir(join(staging, part, d), { recursive: true });
        }
      }
      let done = 0;
      for (const part of ["train", "val"] as const) {
        for (const i of split[part]) {
          const id = ids[i];
          const img = images.get(id)!, msk = masks.get(id)!;
          let imageBytes = await img.reader.read(img.entry);
          let ext = img.entry.name.slice(img.entry.name.lastIndexOf(".")).toLowerCase();
          const maskBytes = await msk.reader.read(msk.entry);
          const label = `${img.reader.path}:${img.entry.name}`;
          if (options.png && ext !== ".png") {
            const raster = await decodeImage(imageBytes, label);
            imageBytes = encodePng({
              width: raster.width,
              height: raster.height,
              channels: 3,
              data: toRgb8(raster),
            });
            ext = ".png";
          }
          await Deno.writeFile(join(staging, part, "images", `${id}${ext}`), imageBytes);
          await Deno.writeFile(join(staging, part, "masks", `${id}_segmentation.png`), maskBytes);
          options.onProgress?.(++done, ids.length);
        }
      }
      const manifest = {
        seed: options.seed ?? 42,
        valFraction,
        archives: options.archives.map((a) => a.slice(a.lastIndexOf("/") + 1)),
        train: split.train.map((i) => ids[i]),
        val: split.val.map((i) => ids[i]),
      };
      await Deno.writeTextFile(
        join(staging, "split.json"),
        JSON.stringify(manifest, null, 1) + "\n",
      );
      if (options.force && (await isDir(out))) await Deno.remove(out, { recursive: true });
      await Deno.rename(staging, out);
    } catch (e) {
      await Deno.remove(staging, { recursive: true }).catch(() => {});
      throw e;
    }
    return { train: split.train.length, val: split.val.length, out };
  } finally {
    for (const r of readers) r.close();
  }
}

/** The public ISIC challenge archives of the segmentation task (training + validation parts). */
export const ISIC_ARCHIVES: {
  readonly isic2017: readonly string[];
  readonly isic2018: readonly string[];
} = {
  isic2017: [
    "2017/ISIC-2017_Training_Data.zip",
    "2017/ISIC-2017_Training_Part1_GroundTruth.zip",
    "2017/ISIC-2017_Validation_Data.zip",
    "2017/ISIC-2017_Validation_Part1_GroundTruth.zip",
  ],
  isic2018: [
    "2018/ISIC2018_Task1-2_Training_Input.zip",
    "2018/ISIC2018_Task1_Training_GroundTruth.zip",
    "2018/ISIC2018_Task1-2_Validation_Input.zip",
    "2018/ISIC2018_Task1_Validation_GroundTruth.zip",
  ],
};

/** Where the ISIC challenge archives are published. */
export const ISIC_ARCHIVE_BASE_URL: string = "https://isic-challenge-data.s3.amazonaws.com/";

/** Options of {@linkcode downloadIsicArchives}. */
export interface DownloadIsicOptions {
  /** `"isic2017"` or `"isic2018"`. */
  version: "isic2017" | "isic2018";
  /** Folder the archives are saved in (created if needed). */
  dir: string;
  /** Base URL (default {@linkcode ISIC_ARCHIVE_BASE_URL}; a mirror or a test server). */
  baseUrl?: string;
  /** Called with each archive name before it is fetched, or skipped when already complete. */
  onArchive?: (name: string, skipped: boolean) => void;
}

/**
 * Downloads the public ISIC challenge archives of one year (the only network step; `prepare`
 * itself runs offline). Each archive is streamed to a temporary file and renamed when
 * complete; archives already present with the server's size are skipped.
 *
 * @param options Version, target folder and optional base URL.
 * @returns The paths of the archives, ready for {@linkcode prepareIsic}.
 * @throws {DatasetLayoutError} naming the URL on an HTTP error or a short download.
 */
export async function downloadIsicArchives(options: DownloadIsicOptions): Promise<string[]> {
  const list = ISIC_ARCHIVES[options.version];
  if (!list) {
    throw new DatasetOptionError("version", `must be isic2017 or isic2018, got ${options.version}`);
  }
  const base = options.baseUrl ?? ISIC_ARCHIVE_BASE_URL;
  await Deno.mkdir(options.dir, { recursive: true });
  const paths: string[] = [];
  for (const rel of list) {
    const name = rel.slice(rel.lastIndexOf("/") + 1);
    const path = join(options.dir, name);
    const url = new URL(rel, base).href;
    let response: Response;
    try {
      response = await fetch(url);
    } catch (e) {
      throw new DatasetLayoutError(url, `download failed: ${(e as Error).message}`, { cause: e });
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new DatasetLayoutError(
        url,
        `download failed: HTTP ${response.status} ${response.statusText}`,
      );
    }
    const expected = Number(response.headers.get("content-length") ?? NaN);
    const have = await Deno.stat(path).then((s) => s.size, () => -1);
    if (have >= 0 && have === expected) {
      await response.body.cancel();
      options.onArchive?.(name, true);
      paths.push(path);
      continue;
    }
    options.onArchive?.(name, false);
    const tmp = `${path}.download-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
      await response.body.pipeTo(file.writable);
      const got = (await Deno.stat(tmp)).size;
      if (Number.isFinite(expected) && got !== expected) {
        throw new DatasetLayoutError(url, `short download: ${got} of ${expected} bytes`);
      }
      await Deno.rename(tmp, path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
    paths.push(path);
  }
  return paths;
}

const USAGE =
  `Usage: deno run -A packages/datasets/prepare.ts --out <folder> [options] <archive.zip>...

Turns ISIC 2017/2018 challenge archives (images + *_segmentation.png masks, e.g.
ISIC2018_Task1-2_Training_Input.zip ISIC2018_Task1_Training_GroundTruth.zip, or
ISIC-2017_Training_Data.zip ISIC-2017_Training_Part1_GroundTruth.zip
ISIC-2017_Validation_Data.zip ISIC-2017_Validation_Part1_GroundTruth.zip) into
<out>/{train,val}/{images,masks} with a seeded 7:3 split. Works offline.

Options:
  --out <folder>        output folder (required)
  --seed <n>            split seed (default 42)
  --val-fraction <f>    validation/test fraction (default 0.3)
  --val-count <n>       exact validation count (e.g. 650 for the paper's ISIC 2017 split)
  --png                 re-encode images as PNG (default: keep the JPEG bytes)
  --force               replace an existing output folder
  --download <version>  first download the public isic2017 or isic2018 training and
                        validation archives into --archives-dir (the only network step)
  --archives-dir <dir>  where --download saves the archives (default: downloads)`;

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      seed: { type: "string" },
      "val-fraction": { type: "string" },
      "val-count": { type: "string" },
      png: { type: "boolean" },
      force: { type: "boolean" },
      download: { type: "string" },
      "archives-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !values.out || (positionals.length === 0 && !values.download)) {
    console.log(USAGE);
    Deno.exit(values.help ? 0 : 2);
  }
  try {
    const t0 = performance.now();
    const archives = [...positionals];
    if (values.download) {
      archives.push(
        ...await downloadIsicArchives({
          version: values.download as "isic2017" | "isic2018",
          dir: values["archives-dir"] ?? "downloads",
          onArchive: (name, skipped) =>
            console.error(`prepare: ${skipped ? "have" : "downloading"} ${name}`),
        }),
      );
    }
    const r = await prepareIsic({
      archives,
      out: values.out,
      seed: values.seed === undefined ? undefined : Number(values.seed),
      valFraction: values["val-fraction"] === undefined
        ? undefined
        : Number(values["val-fraction"]),
      valCount: values["val-count"] === undefined ? undefined : Number(values["val-count"]),
      png: values.png,
      force: values.force,
      onProgress: (done, total) => {
        if (done % 100 === 0 || done === total) console.error(`prepare: ${done}/${total} pairs`);
      },
    });
    console.log(
      `prepare: wrote ${r.train} train and ${r.val} val pairs to ${r.out} in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );
  } catch (e) {
    console.error(`prepare: ${(e as Error).name}: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
