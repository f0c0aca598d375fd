/**
 * `deno task predict`: segments an image, a folder of images or a Synapse volume
 * (`.npy.h5`) with a checkpoint, writing mask PNGs (and a `.npy` label volume for volumes)
 * and colour overlays, with one summary line per file.
 *
 * @module
 */

import { Engine } from "@vmunet/tensor";
import {
  decodeImage,
  encodeMaskPng,
  encodeNpy,
  encodeOverlayPng,
  MissingKeyError,
  type NdArray,
  zoom,
} from "@vmunet/datasets";
import { readHdf5, zoomLabelsBack } from "@vmunet/datasets/fs";
import { perClassMetrics } from "@vmunet/metrics";
import { VMUNet, type VMUNetConfig } from "@vmunet/vmunet";
import type { PredictArgs } from "./cli.ts";
import {
  argmaxClasses,
  inferBatch,
  segmentationMaskPng,
  segmentationOverlayPng,
  segmentImage,
} from "@vmunet/vmunet/training";
import type { Io } from "./io.ts";
import { checkWeightsFit, loadWeightsFile, modelConfigOf } from "./model_io.ts";
import { writeAtomic } from "./run_dir.ts";
import { applySettings, resolveConfig, UsageError } from "./train_config.ts";

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

function stemOf(path: string): string {
  const base = path.split(/[\\/]/).pop()!;
  return base.replace(VOLUME_EXT, "").replace(/\.[^.]+$/, "");
}

async function listInputs(input: string): Promise<{ images: string[]; volumes: string[] }> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(input);
  } catch {
    throw new UsageError(`--input ${input}: not found`);
  }
  const classify = (path: string, images: string[], volumes: string[]) => {
    if (VOLUME_EXT.test(path)) volumes.push(path);
    else if (IMAGE_EXT.test(path)) images.push(path);
  };
  const images: string[] = [], volumes: string[] = [];
  if (info.isDirectory) {
    const names: string[] = [];
    for await (const e of Deno.readDir(input)) if (e.isFile) names.push(e.name);
    names.sort();
    for (const n of names) classify(`${input}/${n}`, images, volumes);
    if (images.length + volumes.length === 0) {
      throw new UsageError(`--input ${input}: no .png, .jpg or .npy.h5 files in the folder`);
    }
  } else {
    classify(input, images, volumes);
    if (images.length + volumes.length === 0) {
      throw new UsageError(
        `--input ${input}: unsupported file type (expected .png, .jpg, .jpeg or .npy.h5)`,
      );
    }
  }
  return { images, volumes };
}

function percent(count: number, total: number): string {
  return `${(100 * count / total).toFixed(1)}%`;
}

function classCounts(labels: Int32Array, nc: number): number[] {
  const counts = new Array(nc).fill(0);
  for (const l of labels) counts[l]++;
  return counts;
}

async function predictImage(
  model: VMUNet,
  size: number,
  threshold: number,
  path: string,
  outDir: string,
): Promise<PredictedFile> {
  const raster = await decodeImage(await Deno.readFile(path), path);
  const s = await segmentImage(model, raster, { size, threshold });
  const { width: w, height: h } = s;
  const stem = stemOf(path);
  const maskPath = `${outDir}/masks/${stem}.png`;
  const overlayPath = `${outDir}/overlays/${stem}.png`;
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
  model: VMUNet,
  config: VMUNetConfig,
  size: number,
  batchSize: number,
  threshold: number,
  path: string,
  outDir: string,
): Promise<PredictedFile> {
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
  const pred = new Int32Array(d * plane);
  const stem = stemOf(path);
  const caseDir = `${outDir}/${stem}`;
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
  const npyPath = `${outDir}/${stem}.npy`;
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

/**
 * Runs `predict`.
 *
 * @param args Parsed arguments.
 * @param io Output sink.
 * @returns What was written, per input file.
 * @throws {UsageError} for missing flags or inputs; checkpoint errors naming the keys.
 */
export async function runPredict(args: PredictArgs, io: Io): Promise<PredictedFile[]> {
  if (!args.checkpoint) throw new UsageError("predict: --checkpoint FILE is required");
  if (!args.input) throw new UsageError("predict: --input IMAGE|FOLDER|VOLUME.npy.h5 is required");
  const loaded = await loadWeightsFile(args.checkpoint);
  const { images, volumes } = await listInputs(args.input);
  const explicit = Object.keys(args.settings).some((k) => k !== "imageSize");
  let modelConfig: VMUNetConfig = { ...loaded.modelConfig, dropPathRate: 0 };
  const base = loaded.trainConfig ??
    resolveConfig(
      volumes.length > 0 && images.length === 0 ? "synapse" : "synthetic",
      volumes.length > 0 && images.length === 0 ? { dataDir: "." } : {},
    );
  const config = applySettings(base, args.settings);
  if (explicit) modelConfig = modelConfigOf(config);
  else if (!loaded.trainConfig) {
    modelConfig.inChannels = volumes.length > 0 && images.length === 0 ? 1 : 3;
  }
  checkWeightsFit(args.checkpoint, modelConfig, loaded.weights);
  await Deno.mkdir(`${args.out}/masks`, { recursive: true }).catch((e) => {
    throw new UsageError(`--out ${args.out}: cannot create (${(e as Error).message})`);
  });
  await Deno.mkdir(`${args.out}/overlays`, { recursive: true });
  const engine = await Engine.create();
  const results: PredictedFile[] = [];
  try {
    const model = VMUNet.create(engine, modelConfig, { seed: 0 });
    model.loadStateDict(loaded.weights, { source: args.checkpoint });
    for (const path of images) {
      const r = await predictImage(
        model,
        config.imageSize,
        args.threshold,
        path,
        args.out,
      );
      io.write(r.summary + "\n");
      results.push(r);
    }
    for (const path of volumes) {
      const r = await predictVolume(
        model,
        modelConfig,
        config.imageSize,
        config.evalBatchSize,
        args.threshold,
        path,
        args.out,
      );
      io.write(r.summary + "\n");
      results.push(r);
    }
  } finally {
    await engine.close();
  }
  return results;
}
