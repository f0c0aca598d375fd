/**
 * `deno task predict`: segments an image, a folder of images or a Synapse volume
 * (`.npy.h5`) with a checkpoint, writing mask PNGs (and a `.npy` label volume for volumes)
 * and colour overlays, with one summary line per file.
 *
 * Masks are named after their input without its extension (`a.jpg` → `masks/a.png`); when
 * two inputs share that name (`a.jpg` and `a.png`), both keep their extension
 * (`masks/a.jpg.png`, `masks/a.png.png`) so that no input's mask replaces another's. A file
 * that cannot be read is skipped and reported, the others are still predicted, and the
 * command ends with a summary of what was skipped (exit code 1). Non-finite weights or
 * outputs stop the command: such masks would be silently wrong.
 *
 * @module
 */

import { Engine } from "@vmunet/tensor";
import {
  DatasetError,
  DecodeError,
  decodeImage,
  encodeMaskPng,
  encodeNpy,
  encodeOverlayPng,
  MissingKeyError,
  type NdArray,
  zoom,
} from "@vmunet/datasets";
import { readHdf5, releaseFiles, zoomLabelsBack } from "@vmunet/datasets/fs";
import { InvalidValueError, perClassMetrics } from "@vmunet/metrics";
import { VMUNet, type VMUNetConfig } from "@vmunet/vmunet";
import type { PredictArgs } from "./cli.ts";
import { DataFolderError, detectDataKind, isDir } from "./data.ts";
import {
  argmaxClasses,
  inferBatch,
  segmentationMaskPng,
  segmentationOverlayPng,
  segmentImage,
} from "@vmunet/vmunet/training";
import type { Io } from "./io.ts";
import {
  checkWeightsFinite,
  checkWeightsFit,
  type LoadedWeights,
  loadWeightsFile,
  modelConfigOf,
} from "./model_io.ts";
import { writeAtomic } from "./run_dir.ts";
import {
  applySettings,
  type PredictionSize,
  predictionSize,
  resolveConfig,
  type TrainConfig,
  UsageError,
} from "./train_config.ts";

const IMAGE_EXT = /\.(png|jpe?g)$/i;
const VOLUME_EXT = /\.(npy\.h5|h5)$/i;

/** One written prediction. */
export interface PredictedFile {
  /** The input file. */
  input: string;
  /** Files written. */
  outputs: string[];
  /** The summary line printed. */
  summary: string;
}

/** An input file that was not predicted, and why. */
export interface SkippedFile {
  /** The input file. */
  input: string;
  /** Why it was skipped (the decoder's message). */
  reason: string;
}

/** What `predict` did. */
export interface PredictResult {
  /** The predicted files, in order. */
  files: PredictedFile[];
  /** The files that could not be read (bad or truncated images, unreadable volumes). */
  skipped: SkippedFile[];
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop()!;
}

function stemOf(path: string): string {
  return baseName(path).replace(VOLUME_EXT, "").replace(/\.[^.]+$/, "");
}

/**
 * The output name of each input: its stem, or its whole file name where two inputs share a
 * stem (compared without case, for case-insensitive file systems), then `-2`, `-3`, … for any
 * name still taken. No two inputs get the same name.
 *
 * @param paths Input files.
 * @returns The output name of each path.
 */
export function outputNames(paths: readonly string[]): Map<string, string> {
  const key = (name: string) => name.toLowerCase();
  const stemCount = new Map<string, number>();
  for (const p of paths) stemCount.set(key(stemOf(p)), (stemCount.get(key(stemOf(p))) ?? 0) + 1);
  const taken = new Set<string>();
  const names = new Map<string, string>();
  for (const p of paths) {
    const first = stemCount.get(key(stemOf(p)))! > 1 ? baseName(p) : stemOf(p);
    let name = first;
    for (let k = 2; taken.has(key(name)); k++) name = `${first}-${k}`;
    taken.add(key(name));
    names.set(p, name);
  }
  return names;
}

/**
 * Refuses a model output holding NaN or ±Inf (the check `eval` makes through the metrics):
 * thresholded, it would become an all-background mask without a word.
 */
function checkOutputFinite(output: Float32Array, checkpoint: string, input: string): void {
  const i = output.findIndex((v) => !Number.isFinite(v));
  if (i >= 0) {
    throw new InvalidValueError(
      `${checkpoint} gives a non-finite output (${output[i]} at flat index ${i}) on ${input}: ` +
        `its masks would be wrong; predict with a checkpoint from before the run diverged`,
    );
  }
}

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new DecodeError(path, `cannot read file: ${(error as Error).message}`, { cause: error });
  }
}

/** One input to predict and the name of its outputs. */
interface PredictInput {
  /** The file. */
  path: string;
  /** Image or `.npy.h5` volume. */
  kind: "image" | "volume";
  /** Output name (unique; may hold a sub-folder, `val/ISIC_0000001`). */
  name: string;
}

/** Inputs named by {@linkcode outputNames} within each output sub-folder. */
function named(kind: "image" | "volume", paths: string[], folder = ""): PredictInput[] {
  const names = outputNames(paths);
  return paths.map((path) => ({ path, kind, name: folder + names.get(path)! }));
}

async function sortedFiles(dir: string, ext: RegExp): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && ext.test(e.name)) names.push(e.name);
  return names.sort().map((n) => `${dir}/${n}`);
}

/**
 * The inputs of a folder. A dataset folder is read as the training loader reads it: the ISIC
 * release layout (`ISIC_<id>.jpg`, up to two folders down) gives its images and leaves the
 * `*_segmentation.png` ground truth out; the official ISIC layout gives `val/images` and
 * `train/images` (outputs under `val/` and `train/`); a folder of pairs gives `images/`;
 * Synapse gives the `test_vol_h5/` volumes. Any other folder: its images and volumes.
 */
async function folderInputs(dir: string): Promise<{ inputs: PredictInput[]; layout?: string }> {
  const kind = await detectDataKind(dir).catch((e) => {
    if (e instanceof DataFolderError) return null;
    throw e;
  });
  if (kind === "synapse") {
    const volumes = `${dir}/test_vol_h5`;
    if (!(await isDir(volumes))) {
      throw new UsageError(
        `--input ${dir}: a Synapse folder without test_vol_h5/ (predict reads .npy.h5 volumes)`,
      );
    }
    return {
      inputs: named("volume", await sortedFiles(volumes, VOLUME_EXT)),
      layout: "Synapse test volumes (test_vol_h5/)",
    };
  }
  if (kind === "folder") {
    return {
      inputs: named("image", await sortedFiles(`${dir}/images`, IMAGE_EXT)),
      layout: "folder of pairs: images/ (masks/ left out)",
    };
  }
  const splits = [];
  for (const split of ["val", "train"]) {
    if (await isDir(`${dir}/${split}/images`)) splits.push(split);
  }
  if (kind === "isic" && splits.length > 0) {
    const inputs: PredictInput[] = [];
    for (const split of splits) {
      inputs.push(
        ...named("image", await sortedFiles(`${dir}/${split}/images`, IMAGE_EXT), `${split}/`),
      );
    }
    return {
      inputs,
      layout: `ISIC official layout: ${splits.map((s) => `${s}/images`).join(", ")} ` +
        `(masks/ left out)`,
    };
  }
  const release = await releaseFiles(dir);
  if (release.images.size > 0) {
    const ids = [...release.images.keys()].sort();
    return {
      inputs: ids.map((id) => ({ path: release.images.get(id)!, kind: "image", name: id })),
      layout: `ISIC release layout: ${ids.length} images` +
        (release.masks.size ? ` (${release.masks.size} *_segmentation.png masks left out)` : ""),
    };
  }
  return {
    inputs: [
      ...named("image", await sortedFiles(dir, IMAGE_EXT)),
      ...named("volume", await sortedFiles(dir, VOLUME_EXT)),
    ],
  };
}

async function listInputs(input: string): Promise<{ inputs: PredictInput[]; layout?: string }> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(input);
  } catch {
    throw new UsageError(`--input ${input}: not found`);
  }
  if (info.isDirectory) {
    const found = await folderInputs(input);
    if (found.inputs.length === 0) {
      throw new UsageError(
        `--input ${input}: no .png, .jpg or .npy.h5 files in the folder${
          found.layout ? ` (${found.layout})` : ""
        }`,
      );
    }
    return found;
  }
  const kind = VOLUME_EXT.test(input) ? "volume" : IMAGE_EXT.test(input) ? "image" : null;
  if (!kind) {
    throw new UsageError(
      `--input ${input}: unsupported file type (expected .png, .jpg, .jpeg or .npy.h5)`,
    );
  }
  return { inputs: [{ path: input, kind, name: stemOf(input) }] };
}

function percent(count: number, total: number): string {
  return `${(100 * count / total).toFixed(1)}%`;
}

function classCounts(labels: Int32Array, nc: number): number[] {
  const counts = new Array(nc).fill(0);
  for (const l of labels) counts[l]++;
  return counts;
}

/** What every prediction needs besides its input. */
interface PredictContext {
  model: VMUNet;
  config: VMUNetConfig;
  size: number;
  batchSize: number;
  threshold: number;
  checkpoint: string;
  outDir: string;
}

async function predictImage(
  ctx: PredictContext,
  path: string,
  name: string,
): Promise<PredictedFile> {
  const { model, size, threshold, outDir } = ctx;
  const raster = await decodeImage(await readInput(path), path);
  const s = await segmentImage(model, raster, { size, threshold });
  checkOutputFinite(s.output, ctx.checkpoint, path);
  const { width: w, height: h } = s;
  const maskPath = `${outDir}/masks/${name}.png`;
  const overlayPath = `${outDir}/overlays/${name}.png`;
  if (name.includes("/")) {
    const folder = name.slice(0, name.lastIndexOf("/"));
    for (const d of ["masks", "overlays"]) {
      await Deno.mkdir(`${outDir}/${d}/${folder}`, { recursive: true });
    }
  }
  let summary: string;
  if (s.probabilities) {
    let fg = 0;
    for (const v of s.labels) fg += v;
    summary = `foreground ${percent(fg, w * h)}`;
  } else {
    const counts = classCounts(s.labels, model.config.numClasses);
    summary = counts.slice(1).map((c, i) => c > 0 ? `class ${i + 1} ${percent(c, w * h)}` : "")
      .filter(Boolean).join(", ") || "no foreground";
  }
  await writeAtomic(maskPath, segmentationMaskPng(s));
  await writeAtomic(overlayPath, segmentationOverlayPng(s));
  return {
    input: path,
    outputs: [maskPath, overlayPath],
    summary: `${path} ${w}×${h}: ${summary} → ${maskPath}, ${overlayPath}`,
  };
}

async function predictVolume(
  ctx: PredictContext,
  path: string,
  name: string,
): Promise<PredictedFile> {
  const { model, config, size, batchSize, threshold, outDir } = ctx;
  let arrays: Record<string, NdArray>;
  let hasLabel = true;
  try {
    arrays = await readHdf5(path, ["image", "label"]);
  } catch (error) {
    if (!(error instanceof MissingKeyError)) throw error;
    arrays = await readHdf5(path, ["image"]);
    hasLabel = false;
  }
  const image = arrays.image;
  if (image.shape.length !== 3 && image.shape.length !== 2) {
    throw new MissingKeyError(path, "image", `must be (D,H,W) or (H,W), got (${image.shape})`);
  }
  const [d, h, w] = image.shape.length === 3 ? image.shape : [1, ...image.shape];
  const nc = config.numClasses;
  const plane = h * w;
  const data = Float32Array.from(image.data);
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new MissingKeyError(path, "image", `holds ${data[bad]} at flat index ${bad}`);
  const pred = new Int32Array(d * plane);
  const caseDir = `${outDir}/${name}`;
  await Deno.mkdir(`${caseDir}/masks`, { recursive: true });
  await Deno.mkdir(`${caseDir}/overlays`, { recursive: true });
  const outputs: string[] = [];
  for (let s = 0; s < d; s += batchSize) {
    const n = Math.min(batchSize, d - s);
    const input = new Float32Array(n * config.inChannels * size * size);
    for (let i = 0; i < n; i++) {
      const slice = data.subarray((s + i) * plane, (s + i + 1) * plane);
      const small = h === size && w === size
        ? slice
        : zoom(slice, 1, h, w, size, size, 3) as Float32Array;
      for (let c = 0; c < config.inChannels; c++) {
        input.set(small, (i * config.inChannels + c) * size * size);
      }
    }
    const { output } = await inferBatch(model, input, [n, config.inChannels, size, size]);
    checkOutputFinite(output, ctx.checkpoint, path);
    for (let i = 0; i < n; i++) {
      let labels: Int32Array;
      if (nc === 1) {
        const prob = output.subarray(i * size * size, (i + 1) * size * size);
        labels = Int32Array.from(prob, (v) => (v >= threshold ? 1 : 0));
      } else {
        labels = argmaxClasses(output.subarray(i * nc * size * size), 1, nc, size * size);
      }
      const full = h === size && w === size ? labels : zoomLabelsBack(labels, size, h, w);
      pred.set(full, (s + i) * plane);
      const z = String(s + i).padStart(3, "0");
      const maskPath = `${caseDir}/masks/slice_${z}.png`;
      const overlayPath = `${caseDir}/overlays/slice_${z}.png`;
      await writeAtomic(maskPath, encodeMaskPng(full, h, w));
      const grey = Float32Array.from(
        data.subarray((s + i) * plane, (s + i + 1) * plane),
        (v) => Math.max(0, Math.min(255, v * 255)),
      );
      await writeAtomic(overlayPath, encodeOverlayPng(grey, 1, full, h, w));
      outputs.push(maskPath, overlayPath);
    }
  }
  const npyPath = `${outDir}/${name}.npy`;
  await writeAtomic(npyPath, encodeNpy({ dtype: "int32", shape: [d, h, w], data: pred }));
  outputs.unshift(npyPath);
  const counts = classCounts(pred, Math.max(2, nc));
  let summary = counts.slice(1).map((c, i) => c > 0 ? `class ${i + 1} ${c} voxels` : "")
    .filter(Boolean).join(", ") || "no foreground";
  if (hasLabel && nc > 1) {
    const label = Int32Array.from(arrays.label.data);
    const classes = perClassMetrics(
      { data: pred, shape: [d, h, w] },
      { data: label, shape: [d, h, w] },
      { classes: nc, outOfRangeLabels: "ignore" },
    );
    const mean = classes.reduce((a, c) => a + c.dice, 0) / classes.length;
    summary += `; against its label: mean Dice ${(100 * mean).toFixed(2)}`;
  }
  return {
    input: path,
    outputs,
    summary: `${path} ${d}×${h}×${w}: ${summary} → ${npyPath}, ${caseDir}/{masks,overlays}/`,
  };
}

/** What `predict` builds and runs with. */
export interface PredictSetup {
  /** The architecture: the checkpoint's, or the model flags' when any is given. */
  modelConfig: VMUNetConfig;
  /** The settings after the flags: `imageSize` is the input size, `evalBatchSize` the volumes'. */
  config: TrainConfig;
  /** The input size without `--image-size` ({@linkcode predictionSize}). */
  size: PredictionSize;
}

/**
 * Resolves the model and settings of `predict`: a checkpoint that records its run
 * configuration (ours) is read with it; one that records none (an official `.pth`, a weights
 * file) with the official settings of its inputs — the `isic17` preset for images (256×256),
 * `synapse` for volumes only (224×224). Flags override either; `--image-size` always wins.
 *
 * @param loaded The checkpoint's weights and what they record.
 * @param checkpoint Its path, for messages.
 * @param settings The flags' settings.
 * @param volumesOnly Whether every input is a `.npy.h5` volume.
 * @returns The architecture, the settings and where the default input size comes from.
 * @throws {UsageError} for an invalid flag value.
 */
export function predictSetup(
  loaded: LoadedWeights,
  checkpoint: string,
  settings: Record<string, unknown>,
  volumesOnly: boolean,
): PredictSetup {
  const size = predictionSize(loaded.trainConfig, checkpoint, volumesOnly);
  const base = loaded.trainConfig ??
    resolveConfig(volumesOnly ? "synapse" : "isic17", { dataDir: ".", imageSize: size.size });
  const config = applySettings(base, settings);
  let modelConfig: VMUNetConfig = { ...loaded.modelConfig, dropPathRate: 0 };
  if (Object.keys(settings).some((k) => k !== "imageSize")) modelConfig = modelConfigOf(config);
  else if (!loaded.trainConfig) modelConfig.inChannels = volumesOnly ? 1 : 3;
  return { modelConfig, config, size };
}

/**
 * Runs `predict`: every readable input is predicted; unreadable ones are reported on the
 * error stream as they come and returned in `skipped`.
 *
 * @param args Parsed arguments.
 * @param io Output sink.
 * @returns What was written per input file, and what was skipped.
 * @throws {UsageError} for missing flags or inputs; {@linkcode CheckpointError} for weights
 *   that do not fit or are not finite; {@linkcode InvalidValueError} for a non-finite output.
 */
export async function runPredict(args: PredictArgs, io: Io): Promise<PredictResult> {
  if (!args.checkpoint) throw new UsageError("predict: --checkpoint FILE is required");
  if (!args.input) throw new UsageError("predict: --input IMAGE|FOLDER|VOLUME.npy.h5 is required");
  const loaded = await loadWeightsFile(args.checkpoint);
  const { inputs, layout } = await listInputs(args.input);
  const images = inputs.filter((i) => i.kind === "image");
  const volumes = inputs.filter((i) => i.kind === "volume");
  const setup = predictSetup(
    loaded,
    args.checkpoint,
    args.settings,
    volumes.length > 0 && images.length === 0,
  );
  const { modelConfig, config } = setup;
  checkWeightsFit(args.checkpoint, modelConfig, loaded.weights);
  checkWeightsFinite(args.checkpoint, loaded.weights);
  await Deno.mkdir(`${args.out}/masks`, { recursive: true }).catch((e) => {
    throw new UsageError(`--out ${args.out}: cannot create (${(e as Error).message})`);
  });
  await Deno.mkdir(`${args.out}/overlays`, { recursive: true });
  if (layout) io.write(`--input ${args.input}: ${layout}\n`);
  if (setup.size.source === "official" && args.settings.imageSize === undefined) {
    io.write(`${setup.size.note}; --image-size N sets another\n`);
  }
  const engine = await Engine.create();
  const files: PredictedFile[] = [];
  const skipped: SkippedFile[] = [];
  try {
    const model = VMUNet.create(engine, modelConfig, { seed: 0 });
    model.loadStateDict(loaded.weights, { source: args.checkpoint });
    const ctx: PredictContext = {
      model,
      config: modelConfig,
      size: config.imageSize,
      batchSize: config.evalBatchSize,
      threshold: args.threshold,
      checkpoint: args.checkpoint,
      outDir: args.out,
    };
    for (const { path, kind, name } of [...images, ...volumes]) {
      let r: PredictedFile;
      try {
        r = kind === "image"
          ? await predictImage(ctx, path, name)
          : await predictVolume(ctx, path, name);
      } catch (error) {
        if (!(error instanceof DatasetError)) throw error;
        const reason = error.message.startsWith(path)
          ? error.message.slice(path.length).replace(/^: /, "")
          : error.message;
        skipped.push({ input: path, reason });
        io.error(`skipped ${path}: ${reason}`);
        continue;
      }
      io.write(r.summary + "\n");
      files.push(r);
    }
  } finally {
    await engine.close();
  }
  return { files, skipped };
}
