import assert from "node:assert/strict";
import { encodeNpz, encodePng, parseNpy } from "@vmunet/datasets";
import { writeHdf5 } from "@vmunet/datasets/fs";
import { serializeSafetensors } from "@vmunet/tensor/safetensors";
import { parameterSpecs, preset } from "@vmunet/vmunet";
import { readJsonl } from "./run_dir.ts";
import { runMain, TINY_MODEL as TINY, trainIn } from "./_testing.ts";

const TINY_MODEL = ["--model", "vmunet-t", ...TINY];

/** A 32×32 CT-like slice: organs 1..8 as blocks on a [0,1] background, labels to match. */
function slice(seed: number): { image: Float32Array; label: Float32Array } {
  const image = new Float32Array(32 * 32), label = new Float32Array(32 * 32);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const c = y >= 4 && y < 28 && x >= 4 && x < 28
        ? 1 + ((Math.floor((y - 4) / 12) * 4 + Math.floor((x - 4) / 6) + seed) % 8)
        : 0;
      label[y * 32 + x] = c;
      image[y * 32 + x] = c / 9 + 0.02 * Math.sin(x * 7 + y * 3 + seed);
    }
  }
  return { image, label };
}

Deno.test("the synapse preset trains with CeDice on a Synapse folder, tests its volumes and predicts a volume", async () => {
  const root = await Deno.makeTempDir({ prefix: "vmunet-synapse-" });
  try {
    await Deno.mkdir(`${root}/data/train_npz`, { recursive: true });
    await Deno.mkdir(`${root}/data/test_vol_h5`);
    for (let i = 0; i < 4; i++) {
      const s = slice(i);
      await Deno.writeFile(
        `${root}/data/train_npz/case0005_slice00${i}.npz`,
        encodeNpz({
          image: { dtype: "float32", shape: [32, 32], data: s.image },
          label: { dtype: "float32", shape: [32, 32], data: s.label },
        }),
      );
    }
    const image = new Float32Array(3 * 1024), label = new Float32Array(3 * 1024);
    for (let d = 0; d < 3; d++) {
      const s = slice(d);
      image.set(s.image, d * 1024);
      label.set(s.label, d * 1024);
    }
    await writeHdf5(`${root}/data/test_vol_h5/case0001.npy.h5`, {
      image: { dtype: "float32", shape: [3, 32, 32], data: image },
      label: { dtype: "float32", shape: [3, 32, 32], data: label },
    });
    const r = await runMain(trainIn(root, "s", [
      "--preset",
      "synapse",
      ...TINY_MODEL,
      "--batch-size",
      "2",
      "--epochs",
      "2",
      "--eval-every",
      "1",
      "--eval-batch-size",
      "3",
    ]));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /9 class\(es\)/);
    assert.match(r.out, /synapse .*: 4 training images 32×32, 1 test volumes/);
    assert.match(r.out, /CeDice 1:1/);
    assert.match(r.out, /mean DSC [\d.]+ {2}mean HD95 [\d.]+ {2}\(aorta [\d.]+/);
    const records = await readJsonl(`${root}/runs/s/log.jsonl`);
    const evals = records.filter((x) => x.type === "eval");
    assert.equal(evals.length, 2);
    const organs = evals[0].organs as { name: string; dsc: number }[];
    assert.equal(organs.length, 8);
    assert.equal(organs[7].name, "stomach");
    // Official Synapse selection: the lowest training loss.
    const epochs = records.filter((x) => x.type === "epoch");
    const best = epochs.reduce((a, b) => (b.trainLoss as number) < (a.trainLoss as number) ? b : a);
    assert.equal(evals.filter((e) => e.best).at(-1)?.epoch, best.epoch);

    const e = await runMain(["eval", "--checkpoint", `${root}/runs/s/best.safetensors`]);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /\| Organ \| Dice \(%\) \| HD95 \|/);
    const json = JSON.parse(await Deno.readTextFile(`${root}/runs/s/eval.json`));
    assert.equal(json.cases, 1);
    assert.equal(json.organs.length, 8);
    const bestEval = evals.find((x) => x.epoch === best.epoch)!;
    assert.equal(json.dsc, bestEval.dsc);
    assert.equal(json.hd95, bestEval.hd95);

    const p = await runMain([
      "predict",
      "--checkpoint",
      `${root}/runs/s/best.safetensors`,
      "--input",
      `${root}/data/test_vol_h5/case0001.npy.h5`,
      "--out",
      `${root}/pred`,
    ]);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /case0001\.npy\.h5 3×32×32: .*against its label: mean Dice [\d.]+/);
    const pred = parseNpy(await Deno.readFile(`${root}/pred/case0001.npy`), "npy");
    assert.deepEqual(pred.shape, [3, 32, 32]);
    assert.ok([...pred.data].every((v) => Number.isInteger(v) && v >= 0 && v < 9));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("isic18 settings train from VMamba-style pretrained weights on an official-layout folder", async () => {
  const root = await Deno.makeTempDir({ prefix: "vmunet-isic-" });
  try {
    for (const split of ["train", "val"]) {
      for (const d of ["images", "masks"]) {
        await Deno.mkdir(`${root}/data/${split}/${d}`, { recursive: true });
      }
      for (let i = 0; i < 2; i++) {
        const rgb = new Uint8Array(40 * 30 * 3).map((_, k) => (k * 7 + i * 50) % 256);
        const mask = new Uint8Array(40 * 30).map((_, k) => (k % 40 > 12 && k % 40 < 28 ? 255 : 0));
        await Deno.writeFile(
          `${root}/data/${split}/images/ISIC_000000${i}.png`,
          encodePng({ width: 40, height: 30, channels: 3, data: rgb }),
        );
        await Deno.writeFile(
          `${root}/data/${split}/masks/ISIC_000000${i}_segmentation.png`,
          encodePng({ width: 40, height: 30, channels: 1, data: mask }),
        );
      }
    }
    // VMamba keys (no "vmunet." prefix) for the encoder of the tiny model, plus a head.
    const config = preset("vmunet-t", {
      dims: 8,
      depths: [1, 1, 1, 1],
      depthsDecoder: [1, 1, 1, 1],
    });
    const encoder = parameterSpecs(config).filter((s) =>
      /^vmunet\.(patch_embed|layers\.)/.test(s.name)
    );
    const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const s of encoder) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      tensors[s.name.slice("vmunet.".length)] = {
        dtype: "F32",
        shape: s.shape,
        data: new Float32Array(n).fill(0.01),
      };
    }
    tensors["head.weight"] = { dtype: "F32", shape: [10, 64], data: new Float32Array(640) };
    await Deno.writeFile(`${root}/vmamba.safetensors`, serializeSafetensors(tensors));
    const r = await runMain(trainIn(root, "i", [
      "--preset",
      "isic18",
      "--pretrained",
      `${root}/vmamba.safetensors`,
      ...TINY_MODEL,
      "--batch-size",
      "2",
      "--epochs",
      "1",
      "--eval-batch-size",
      "2",
    ]));
    assert.equal(r.code, 0, r.err);
    const mirrored = encoder.filter((s) => /blocks/.test(s.name)).length;
    assert.match(
      r.out,
      new RegExp(`pretrained .*vmamba\\.safetensors: ${encoder.length + mirrored} tensors loaded`),
    );
    assert.match(r.out, /isic .*: 2 training images 32×32, 2 validation images/);
    assert.match(r.out, /best by val-loss/);
    const config0 = JSON.parse(await Deno.readTextFile(`${root}/runs/i/config.json`));
    assert.equal(config0.preset, "isic18");
    assert.equal(config0.lr, 1e-3);
    assert.equal(config0.tMax, 50);
    const [, evalRecord] = await readJsonl(`${root}/runs/i/log.jsonl`);
    assert.equal(evalRecord.type, "eval");
    assert.equal(
      (evalRecord.tp as number) + (evalRecord.fp as number) + (evalRecord.fn as number) +
        (evalRecord.tn as number),
      2 * 32 * 32,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a folder of image/mask pairs given to the default preset is detected and trained on", async () => {
  const root = await Deno.makeTempDir({ prefix: "vmunet-folder-" });
  try {
    for (const d of ["images", "masks"]) await Deno.mkdir(`${root}/data/${d}`, { recursive: true });
    for (let i = 0; i < 5; i++) {
      const rgb = new Uint8Array(40 * 30 * 3).map((_, k) => (k * 11 + i * 30) % 256);
      const mask = new Uint8Array(40 * 30).map((
        _,
        k,
      ) => (k % 40 > 10 + i && k % 40 < 30 ? 255 : 0));
      await Deno.writeFile(
        `${root}/data/images/p${i}.png`,
        encodePng({ width: 40, height: 30, channels: 3, data: rgb }),
      );
      await Deno.writeFile(
        `${root}/data/masks/p${i}_mask.png`,
        encodePng({ width: 40, height: 30, channels: 1, data: mask }),
      );
    }
    const r = await runMain(trainIn(root, "f", [
      ...TINY_MODEL,
      "--epochs",
      "1",
      "--batch-size",
      "2",
      "--eval-batch-size",
      "2",
      "--val-fraction",
      "0.4",
    ]));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /folder .*data: 3 training images 32×32, 2 validation images/);
    const config = JSON.parse(await Deno.readTextFile(`${root}/runs/f/config.json`));
    assert.equal(config.data, "folder");
    assert.equal(config.preset, "synthetic");
    const e = await runMain(["eval", "--checkpoint", `${root}/runs/f/last.safetensors`]);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /\| folder \| mIoU \| DSC \|/);
    const json = JSON.parse(await Deno.readTextFile(`${root}/runs/f/eval.json`));
    assert.equal(json.tp + json.fp + json.fn + json.tn, 2 * 32 * 32);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
