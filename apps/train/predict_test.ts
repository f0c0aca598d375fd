import assert from "node:assert/strict";
import { decodePng, encodeJpeg, encodePng } from "@vmunet/datasets";
import { parameterSpecs, parseCheckpoint, preset, serializeWeights } from "@vmunet/vmunet";
import { stateDictPth } from "../../packages/vmunet/testdata/pth_writer.ts";
import { Engine } from "@vmunet/tensor";
import { loadCheckpoint } from "../web/page/checkpoint.ts";
import { weightsOf } from "./checkpoint_format.ts";
import { outputNames, predictSetup } from "./predict.ts";
import { resolveConfig } from "./train_config.ts";
import { withTempDir } from "../../tools/testing.ts";
import { cli, exists } from "./_testing.ts";

/**
 * Runs `vmunet predict` with a checkpoint, an input (file or folder), an output folder and
 * more flags.
 */
const predict = (checkpoint: string, input: string, out: string, ...flags: string[]) =>
  cli(["predict", "--checkpoint", checkpoint, "--input", input, "--out", out, ...flags]);
/** {@linkcode predict} at 32×32 (these weights files record no size: 256×256 otherwise). */
const predict32 = (checkpoint: string, input: string, out: string) =>
  predict(checkpoint, input, out, "--image-size", "32");

/** The tiny VM-UNet of these tests: dims 8, one block per stage. */
const TINY = preset("vmunet-t", { dims: 8, depths: [1, 1, 1, 1], depthsDecoder: [1, 1, 1, 1] });

/** The tiny model's weights, from `fill(key, i)`. */
function tinyWeights(
  fill: (key: string, i: number) => number = (_, i) => ((i * 37) % 11 - 5) / 50,
): Map<string, Float32Array> {
  return new Map(
    parameterSpecs(TINY).map((s) => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      return [s.name, Float32Array.from({ length: n }, (_, i) => fill(s.name, i))];
    }),
  );
}

/** A tiny VM-UNet weights file (safetensors, no training configuration). */
async function writeCheckpoint(
  path: string,
  fill?: (key: string, i: number) => number,
): Promise<void> {
  await Deno.writeFile(path, serializeWeights(TINY, tinyWeights(fill), parameterSpecs(TINY)));
}

function rgb(width: number, height: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * seed + 17) % 256);
}

/** An RGB PNG of {@linkcode rgb} pixels. */
const rgbPng = (width: number, height: number, seed: number): Uint8Array =>
  encodePng({ width, height, channels: 3, data: rgb(width, height, seed) });

Deno.test("outputNames() keeps stems, adds the extension on a clash and never repeats a name", () => {
  const names = outputNames(["d/a.jpg", "d/a.png", "d/b.png", "d/A.JPEG", "d/a.jpg.png", "d/c.h5"]);
  assert.deepEqual([...names.values()], ["a.jpg", "a.png", "b", "A.JPEG", "a.jpg-2", "c"]);
});

Deno.test("predict on a folder: a.jpg and a.png keep separate masks, bad files are skipped and reported, exit 1", async () => {
  await withTempDir("vmunet-predict-", async (dir) => {
    await writeCheckpoint(`${dir}/w.safetensors`);
    const input = `${dir}/in`;
    await Deno.mkdir(input);
    await Deno.writeFile(`${input}/a.jpg`, encodeJpeg(rgb(40, 24, 3), 40, 24));
    await Deno.writeFile(`${input}/a.png`, rgbPng(32, 32, 5));
    const b = rgbPng(20, 36, 7);
    await Deno.writeFile(`${input}/b.png`, b);
    await Deno.writeFile(`${input}/broken.png`, b.slice(0, 40)); // truncated
    await Deno.writeFile(`${input}/c.jpg`, new TextEncoder().encode("not a jpeg"));
    const r = await predict32(`${dir}/w.safetensors`, input, `${dir}/out`);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /skipped .*broken\.png: corrupt or truncated PNG/);
    assert.match(r.err, /2 of 5 input file\(s\) skipped:\n {2}.*broken\.png: .*\n {2}.*c\.jpg: /);
    assert.equal(r.out.trim().split("\n").length, 3, r.out);
    const size = async (name: string) => {
      const m = decodePng(await Deno.readFile(`${dir}/out/masks/${name}`), name);
      return [m.width, m.height];
    };
    assert.deepEqual(await size("a.jpg.png"), [40, 24]);
    assert.deepEqual(await size("a.png.png"), [32, 32]);
    assert.deepEqual(await size("b.png"), [20, 36]);
    assert.ok(!(await exists(`${dir}/out/masks/a.png`)));
    assert.ok(await exists(`${dir}/out/overlays/a.jpg.png`));
    assert.ok(await exists(`${dir}/out/overlays/a.png.png`));
  });
});

Deno.test("predict refuses NaN weights (the tensor named) and a non-finite output: exit 1, no masks", async () => {
  await withTempDir("vmunet-predict-", async (dir) => {
    await writeCheckpoint(
      `${dir}/nan.safetensors`,
      (key, i) => key === "vmunet.final_conv.bias" ? NaN : ((i % 7) - 3) / 40,
    );
    await Deno.writeFile(`${dir}/x.png`, rgbPng(32, 32, 3));
    const r = await predict32(`${dir}/nan.safetensors`, `${dir}/x.png`, `${dir}/out`);
    assert.equal(r.code, 1, r.err);
    assert.match(
      r.err,
      /CheckpointError: .*nan\.safetensors: holds non-finite weights .*vmunet\.final_conv\.bias\[0\] = NaN/,
    );
    assert.ok(!(await exists(`${dir}/out/masks/x.png`)));
    // Finite weights so large that the output overflows: the output check refuses it.
    await writeCheckpoint(`${dir}/huge.safetensors`, () => 3e37);
    const h = await predict32(`${dir}/huge.safetensors`, `${dir}/x.png`, `${dir}/out`);
    assert.equal(h.code, 1, h.err);
    assert.match(
      h.err,
      /InvalidValueError: .*huge\.safetensors gives a non-finite output \((NaN|-?Infinity) at flat index \d+\) on .*x\.png/,
    );
    assert.ok(!(await exists(`${dir}/out/masks/x.png`)));
  });
});

/** Every file under `dir`, relative, sorted. */
async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    if (e.isDirectory) out.push(...await tree(dir, `${prefix}${e.name}/`));
    else out.push(`${prefix}${e.name}`);
  }
  return out.sort();
}

Deno.test("predict on a dataset folder reads its layout as training does: ground-truth masks are not segmented", async () => {
  await withTempDir("vmunet-predict-", async (dir) => {
    await writeCheckpoint(`${dir}/w.safetensors`);
    const png = (w: number, h: number) => rgbPng(w, h, 3);
    const mask = (w: number, h: number) =>
      encodePng({ width: w, height: h, channels: 1, data: new Uint8Array(w * h).fill(255) });
    const write = async (path: string, bytes: Uint8Array) => {
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(path, bytes);
    };
    // The ISIC release: images and *_segmentation.png masks side by side, one image without.
    await write(`${dir}/release/ISIC_0000001.jpg`, encodeJpeg(rgb(36, 28, 5), 36, 28));
    await write(`${dir}/release/ISIC_0000001_segmentation.png`, mask(36, 28));
    await write(`${dir}/release/ISIC_0000002.png`, png(32, 32));
    // The official layout and a folder of pairs.
    for (const split of ["train", "val"]) {
      await write(`${dir}/official/${split}/images/a.png`, png(32, 32));
      await write(`${dir}/official/${split}/masks/a.png`, mask(32, 32));
    }
    await write(`${dir}/pairs/images/p.png`, png(32, 32));
    await write(`${dir}/pairs/masks/p_mask.png`, mask(32, 32));
    const predictLayout = (input: string) =>
      predict32(`${dir}/w.safetensors`, `${dir}/${input}`, `${dir}/out-${input}`);
    const release = await predictLayout("release");
    assert.equal(release.code, 0, release.err);
    assert.match(release.out, /ISIC release layout: 2 images \(1 \*_segmentation\.png masks left/);
    assert.deepEqual(await tree(`${dir}/out-release/masks`), [
      "ISIC_0000001.png",
      "ISIC_0000002.png",
    ]);
    const official = await predictLayout("official");
    assert.equal(official.code, 0, official.err);
    assert.deepEqual(await tree(`${dir}/out-official/masks`), ["train/a.png", "val/a.png"]);
    assert.deepEqual(await tree(`${dir}/out-official/overlays`), ["train/a.png", "val/a.png"]);
    const pairs = await predictLayout("pairs");
    assert.equal(pairs.code, 0, pairs.err);
    assert.deepEqual(await tree(`${dir}/out-pairs/masks`), ["p.png"]);
  });
});

Deno.test("predict's input size: the checkpoint's training size, else the official 256×256 (224 for volumes), said in the output; --image-size wins", async () => {
  await withTempDir("vmunet-predict-", async (dir) => {
    // An official-style best.pth (a bare state dict: no configuration, no size).
    const weights = tinyWeights();
    const pthBytes = stateDictPth(
      new Map(
        parameterSpecs(TINY).map((s) => [s.name, { shape: s.shape, data: weights.get(s.name)! }]),
      ),
    );
    const pth = weightsOf(await parseCheckpoint(pthBytes, "best.pth"));
    const official = predictSetup(pth, "best.pth", {}, false);
    assert.equal(official.config.imageSize, 256);
    assert.deepEqual(official.size, {
      size: 256,
      source: "official",
      note:
        "input size 256×256: the official VM-UNet size for ISIC images (best.pth records no training size)",
    });
    assert.equal(official.modelConfig.inChannels, 3);
    const volumes = predictSetup(pth, "best.pth", {}, true);
    assert.equal(volumes.config.imageSize, 224);
    assert.equal(volumes.modelConfig.inChannels, 1);
    assert.equal(predictSetup(pth, "best.pth", { imageSize: 64 }, false).config.imageSize, 64);
    // A checkpoint of our train app records its run's configuration, size included.
    const run = resolveConfig("synthetic", { dims: 8, imageSize: 64 });
    const oursBytes = serializeWeights(TINY, weights, parameterSpecs(TINY), {
      train_config: JSON.stringify(run),
    });
    const ours = weightsOf(await parseCheckpoint(oursBytes, "last.safetensors"));
    const recorded = predictSetup(ours, "last.safetensors", {}, false);
    assert.equal(recorded.config.imageSize, 64);
    assert.equal(recorded.size.source, "checkpoint");
    assert.equal(
      predictSetup(ours, "last.safetensors", { imageSize: 96 }, true).config.imageSize,
      96,
    );
    // The web page picks the same sizes (its input-size field is set from imageSize).
    const engine = await Engine.create();
    try {
      const pthPage = await loadCheckpoint(engine, pthBytes, "best.pth", true);
      assert.equal(pthPage.imageSize, 256);
      assert.equal(pthPage.sizeNote, official.size.note);
      const oursPage = await loadCheckpoint(engine, oursBytes, "last.safetensors", true);
      assert.equal(oursPage.imageSize, 64);
      assert.equal(oursPage.sizeNote, "input size 64×64: the size last.safetensors was trained at");
    } finally {
      await engine.close();
    }

    // The command line on the .pth: 256×256 by default and said so; the flag silences it.
    await Deno.writeFile(`${dir}/best.pth`, pthBytes);
    await Deno.writeFile(`${dir}/x.png`, rgbPng(40, 24, 3));
    const byDefault = await predict(`${dir}/best.pth`, `${dir}/x.png`, `${dir}/out`);
    assert.equal(byDefault.code, 0, byDefault.err);
    assert.match(
      byDefault.out,
      /^input size 256×256: the official VM-UNet size for ISIC images \(.*best\.pth records no training size\); --image-size N sets another\n.*x\.png 40×24: /,
    );
    const mask = decodePng(await Deno.readFile(`${dir}/out/masks/x.png`), "mask");
    assert.deepEqual([mask.width, mask.height], [40, 24]);
    const flagged = await predict32(`${dir}/best.pth`, `${dir}/x.png`, `${dir}/out32`);
    assert.equal(flagged.code, 0, flagged.err);
    assert.doesNotMatch(flagged.out, /input size/);
    assert.match(flagged.out, /^.*x\.png 40×24: /);
  });
});
