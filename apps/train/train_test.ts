import assert from "node:assert/strict";
import { decodePng, encodePng, generateSyntheticSample, parseNpy } from "@vmunet/datasets";
import { writeHdf5 } from "@vmunet/datasets/fs";
import { parseSafetensors } from "@vmunet/tensor/safetensors";
import type { MainOptions, StepInfo } from "./main.ts";
import { readJsonl } from "./run_dir.ts";
import { cliArgs, exists, runMain, TINY_RUN } from "./_testing.ts";

/**
 * The shared tiny run with 24 images (3 steps of 8), a cosine schedule over 3 epochs from lr
 * 0.003, a log record every 2 steps and 2 report images (later flags win).
 */
const TINY = [
  ...TINY_RUN,
  "--synthetic-count",
  "24",
  "--t-max",
  "3",
  "--lr",
  "0.003",
  "--eta-min",
  "0.00003",
  "--log-every",
  "2",
  "--report-images",
  "2",
];

type Rec = Record<string, unknown>;

function train(runs: string, name: string, extra: string[], options: Omit<MainOptions, "io"> = {}) {
  return runMain(["train", "--runs-dir", runs, "--name", name, ...TINY, ...extra], options);
}

function epochLosses(records: Rec[]): number[][] {
  return records.filter((r) => r.type === "epoch").map((r) => r.losses as number[]);
}

Deno.test("train runs end to end, resumes bit for bit (after an epoch and mid-epoch), then eval and predict read its checkpoints", async () => {
  const runs = await Deno.makeTempDir({ prefix: "vmunet-train-" });
  try {
    // Uninterrupted: 3 epochs.
    const a = await train(runs, "a", ["--epochs", "3"]);
    assert.equal(a.code, 0, a.err);
    for (const f of ["config.json", "log.jsonl", "last.safetensors", "best.safetensors"]) {
      assert.ok(await exists(`${runs}/a/${f}`), `missing ${f}`);
    }
    assert.match(a.out, /adapter {3}\S/);
    assert.match(a.out, /\d[\d,]* parameters/);
    assert.match(a.out, /synthetic lesions \(seed 42\): 24 training images 32×32/);
    assert.match(a.out, /epoch 3\/3 val loss \d\.\d{4} {2}mIoU [\d.]+ {2}DSC [\d.]+ {2}Acc/);
    const config = JSON.parse(await Deno.readTextFile(`${runs}/a/config.json`));
    assert.equal(config.imageSize, 32);
    assert.equal(config.dims, 8);
    assert.equal(config.selection, "val-dice");
    const recordsA = await readJsonl(`${runs}/a/log.jsonl`);
    assert.deepEqual(recordsA.map((r) => `${r.type}${r.epoch}`), [
      "epoch1",
      "eval1",
      "epoch2",
      "eval2",
      "epoch3",
      "eval3",
    ]);
    const lossesA = epochLosses(recordsA);
    assert.deepEqual(lossesA.map((l) => l.length), [3, 3, 3]);
    assert.ok(lossesA.flat().every((v) => Number.isFinite(v) && v > 0 && v < 3));
    // The cosine schedule is stepped once per epoch (T_max 3, eta_min 3e-5).
    const lrs = recordsA.filter((r) => r.type === "epoch").map((r) => r.lr as number);
    assert.equal(lrs[0], 3e-3);
    assert.ok(Math.abs(lrs[1] - (3e-5 + (3e-3 - 3e-5) * (1 + Math.cos(Math.PI / 3)) / 2)) < 1e-12);
    const evals = recordsA.filter((r) => r.type === "eval");
    for (const e of evals) {
      assert.equal(
        (e.tp as number) + (e.tn as number) + (e.fp as number) + (e.fn as number),
        8 * 32 * 32,
      );
      assert.ok((e.dsc as number) >= 0 && (e.dsc as number) <= 1);
    }
    const html = await Deno.readTextFile(`${runs}/a/report.html`);
    assert.match(html, /<svg/);
    assert.equal(html.match(/data:image\/png;base64,/g)?.length, 2 * 3);
    const ckpt = parseSafetensors(await Deno.readFile(`${runs}/a/last.safetensors`));
    assert.equal(ckpt.metadata.epoch, "3");
    assert.ok(ckpt.has("vmunet.final_conv.weight") && ckpt.has("optimizer.state.0.exp_avg"));
    assert.equal(JSON.parse(ckpt.metadata.train_state).globalStep, 9);

    // One epoch, then --resume to 3: the same losses, bit for bit.
    const b1 = await train(runs, "b", ["--epochs", "1"]);
    assert.equal(b1.code, 0, b1.err);
    const b2 = await train(runs, "b", ["--epochs", "3", "--resume"]);
    assert.equal(b2.code, 0, b2.err);
    assert.match(b2.out, /resume {4}from .*epoch 1, step 0/);
    assert.deepEqual(epochLosses(await readJsonl(`${runs}/b/log.jsonl`)), lossesA);

    // Interrupted after the first step of epoch 2 (as Ctrl-C does), then resumed.
    const controller = new AbortController();
    const c1 = await train(runs, "c", ["--epochs", "3"], {
      signal: controller.signal,
      afterStep: ({ epoch, step }: { epoch: number; step: number }) => {
        if (epoch === 1 && step === 0) controller.abort();
      },
    });
    assert.equal(c1.code, 130, c1.err);
    assert.match(c1.out, /interrupted: saved .*last\.safetensors \(epoch 2, step 1\/3\)/);
    const c1State = JSON.parse(
      parseSafetensors(await Deno.readFile(`${runs}/c/last.safetensors`)).metadata.train_state,
    );
    assert.equal(c1State.epoch, 1);
    assert.equal(c1State.stepInEpoch, 1);
    assert.deepEqual(c1State.epochLosses, [lossesA[1][0]]);
    const c2 = await train(runs, "c", ["--epochs", "3", "--resume"]);
    assert.equal(c2.code, 0, c2.err);
    assert.deepEqual(epochLosses(await readJsonl(`${runs}/c/log.jsonl`)), lossesA);

    // eval on the best checkpoint reproduces the validation numbers of its epoch.
    const evaluated = await runMain(["eval", "--checkpoint", `${runs}/a/best.safetensors`]);
    assert.equal(evaluated.code, 0, evaluated.err);
    const report = JSON.parse(await Deno.readTextFile(`${runs}/a/eval.json`));
    const bestEpoch = JSON.parse(ckpt.metadata.train_state).best.epoch;
    const bestEval = evals.find((e) => e.epoch === bestEpoch)!;
    assert.equal(report.epoch, bestEpoch);
    for (const k of ["tp", "fp", "fn", "tn", "dsc", "miou"]) assert.equal(report[k], bestEval[k]);
    assert.match(evaluated.out, /\| synthetic \| mIoU \| DSC \| Acc \| Spe \| Sen \|/);
    assert.ok(await exists(`${runs}/a/eval.md`));

    // predict on a folder holding an image and a volume.
    const input = `${runs}/input`;
    await Deno.mkdir(input);
    const s = generateSyntheticSample(7, 0, 40);
    const rgb = new Uint8Array(40 * 40 * 3);
    for (let i = 0; i < 1600; i++) {
      for (let ch = 0; ch < 3; ch++) rgb[i * 3 + ch] = Math.round(s.image[ch * 1600 + i]);
    }
    await Deno.writeFile(
      `${input}/lesion.png`,
      encodePng({ width: 40, height: 40, channels: 3, data: rgb }),
    );
    await writeHdf5(`${input}/case0001.npy.h5`, {
      image: { dtype: "float32", shape: [2, 32, 32], data: new Float32Array(2048).fill(0.5) },
    });
    const out = `${runs}/pred`;
    const predicted = await runMain([
      "predict",
      "--checkpoint",
      `${runs}/a/best.safetensors`,
      "--input",
      input,
      "--out",
      out,
    ]);
    assert.equal(predicted.code, 0, predicted.err);
    const lines = predicted.out.trim().split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[0], /lesion\.png 40×40: foreground [\d.]+%/);
    assert.match(lines[1], /case0001\.npy\.h5 2×32×32: /);
    const mask = decodePng(await Deno.readFile(`${out}/masks/lesion.png`), "mask");
    assert.equal(mask.width, 40);
    assert.equal(mask.height, 40);
    assert.ok([...mask.data].every((v) => v === 0 || v === 255));
    const overlay = decodePng(await Deno.readFile(`${out}/overlays/lesion.png`), "overlay");
    assert.equal(overlay.channels, 3);
    const volume = parseNpy(await Deno.readFile(`${out}/case0001.npy`), "npy");
    assert.deepEqual(volume.shape, [2, 32, 32]);
    assert.ok(await exists(`${out}/case0001/masks/slice_001.png`));
    assert.ok(await exists(`${out}/case0001/overlays/slice_000.png`));
  } finally {
    await Deno.remove(runs, { recursive: true });
  }
});

Deno.test("a NaN loss stops the run with a clear message and keeps the last good checkpoint", async () => {
  const runs = await Deno.makeTempDir({ prefix: "vmunet-train-" });
  try {
    const r = await train(runs, "n", ["--epochs", "3"], {
      afterStep: ({ epoch, step, model }: StepInfo) => {
        if (epoch === 1 && step === 1) {
          model.loadStateDict(
            new Map([["vmunet.final_conv.bias", { shape: [1], data: new Float32Array([NaN]) }]]),
            { strict: false },
          );
        }
      },
    });
    assert.equal(r.code, 3);
    assert.match(r.err, /training loss became NaN at epoch 2, step 3/);
    assert.match(r.err, /last good checkpoint .*last\.safetensors \(epoch 1\) is kept/);
    const meta = parseSafetensors(await Deno.readFile(`${runs}/n/last.safetensors`)).metadata;
    assert.equal(meta.epoch, "1");
    const records = await readJsonl(`${runs}/n/log.jsonl`);
    assert.deepEqual(records.map((x) => `${x.type}${x.epoch}`), ["epoch1", "eval1", "error1"]);
  } finally {
    await Deno.remove(runs, { recursive: true });
  }
});

Deno.test("Ctrl-C (SIGINT) saves a checkpoint and exits with code 130", async () => {
  const runs = await Deno.makeTempDir({ prefix: "vmunet-train-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: cliArgs(["train", "--runs-dir", runs, "--name", "z", ...TINY, "--epochs", "100"]),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Wait for the first epoch to be logged, then press Ctrl-C.
    const deadline = Date.now() + 120_000;
    while (!(await exists(`${runs}/z/log.jsonl`))) {
      if (Date.now() > deadline) throw new Error("the run did not log an epoch in 120 s");
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill("SIGINT");
    const { code, stdout, stderr } = await child.output();
    const out = new TextDecoder().decode(stdout), err = new TextDecoder().decode(stderr);
    assert.equal(code, 130, err);
    assert.match(err, /Ctrl-C: finishing the current step and saving a checkpoint/);
    assert.match(out, /interrupted.*saved .*last\.safetensors/);
    const state = JSON.parse(
      parseSafetensors(await Deno.readFile(`${runs}/z/last.safetensors`)).metadata.train_state,
    );
    assert.ok(state.epoch >= 1, `epoch ${state.epoch}`);
    assert.ok(state.epoch < 100);
  } finally {
    await Deno.remove(runs, { recursive: true });
  }
});
