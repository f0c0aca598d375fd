import assert from "node:assert/strict";
import { encodeNpz, type NdArray } from "@vmunet/datasets";
import { writeHdf5 } from "@vmunet/datasets/fs";
import { serializeSafetensors } from "@vmunet/tensor/safetensors";
import type { StepInfo } from "./main.ts";
import { readJsonl } from "./run_dir.ts";
import { divergenceAdvice, resolveConfig } from "./train_config.ts";
import { cli, exists, runMain, TINY_RUN, trainIn } from "./_testing.ts";

/** One epoch of 24 synthetic 32×32 images (3 steps of 8), a dims-8 model, lr 0.003. */
const TINY = [...TINY_RUN, "--synthetic-count", "24", "--lr", "0.003"];

Deno.test("a bad --model or --pretrained is refused before the run folder is made", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmunet-start-" });
  try {
    const train = (extra: string[]) =>
      cli(["train", "--runs-dir", `${dir}/runs`, "--name", "x", ...TINY, ...extra]);
    const model = await train(["--model", "vmunet-x"]);
    assert.equal(model.code, 2, model.err);
    assert.match(model.err, /unknown model preset "vmunet-x"; valid presets: vmunet-s, vmunet-t/);
    assert.ok(!(await exists(`${dir}/runs/x`)));
    const missing = await train(["--pretrained", `${dir}/missing.pth`]);
    assert.equal(missing.code, 1, missing.err);
    assert.match(missing.err, /missing\.pth: --pretrained: file not found/);
    assert.ok(!(await exists(`${dir}/runs/x`)));
    // VMamba keys of another width (dims 16 where the run has 8).
    await Deno.writeFile(
      `${dir}/wide.safetensors`,
      serializeSafetensors({
        "patch_embed.proj.weight": {
          dtype: "F32",
          shape: [16, 3, 4, 4],
          data: new Float32Array(16 * 48),
        },
      }),
    );
    const wide = await train(["--pretrained", `${dir}/wide.safetensors`]);
    assert.equal(wide.code, 1, wide.err);
    assert.match(
      wide.err,
      /wide\.safetensors: --pretrained: its weights do not fit .*vmunet\.patch_embed\.proj\.weight model \[8,3,4,4\] file \[16,3,4,4\]/,
    );
    assert.ok(!(await exists(`${dir}/runs/x`)));
    await Deno.writeFile(
      `${dir}/other.safetensors`,
      serializeSafetensors({
        "fc.weight": { dtype: "F32", shape: [2], data: new Float32Array(2) },
      }),
    );
    const other = await train(["--pretrained", `${dir}/other.safetensors`]);
    assert.equal(other.code, 1, other.err);
    assert.match(other.err, /none of its 1 tensors maps onto VM-UNet .*fc\.weight/);
    assert.ok(!(await exists(`${dir}/runs/x`)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a Synapse folder with a bad slice or volume is refused before the run folder is made, naming the file and key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vmunet-start-" });
  const f32 = (shape: number[]): NdArray => ({
    dtype: "float32",
    shape,
    data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
  });
  try {
    await Deno.mkdir(`${dir}/data/train_npz`, { recursive: true });
    await Deno.mkdir(`${dir}/data/test_vol_h5`);
    for (let i = 0; i < 3; i++) {
      await Deno.writeFile(
        `${dir}/data/train_npz/case0005_slice00${i}.npz`,
        encodeNpz({ image: f32([32, 32]), label: f32([32, 32]) }),
      );
    }
    const volume = `${dir}/data/test_vol_h5/case0001.npy.h5`;
    await writeHdf5(volume, { image: f32([2, 32, 32]), label: f32([2, 32, 32]) });
    const train = () =>
      runMain(trainIn(dir, "s", [
        "--preset",
        "synapse",
        "--image-size",
        "32",
        "--dims",
        "8",
        "--workers",
        "0",
      ]));
    const bad = `${dir}/data/train_npz/case0005_slice001.npz`;
    await Deno.writeFile(bad, encodeNpz({ image: f32([32, 32]) }));
    const missing = await train();
    assert.equal(missing.code, 1, missing.err);
    assert.match(
      missing.err,
      /MissingKeyError: .*\/train_npz\/case0005_slice001\.npz: key "label" is missing \(members: image\.npy\)/,
    );
    assert.ok(!(await exists(`${dir}/runs/s`)));
    await Deno.writeFile(bad, encodeNpz({ image: f32([32, 32]), label: f32([32, 24]) }));
    const shape = await train();
    assert.equal(shape.code, 1, shape.err);
    assert.match(
      shape.err,
      /case0005_slice001\.npz: key "label" has shape \(32,24\), image has \(32,32\)/,
    );
    assert.ok(!(await exists(`${dir}/runs/s`)));
    await Deno.writeFile(bad, encodeNpz({ image: f32([32, 32]), label: f32([32, 32]) }));
    await writeHdf5(volume, { image: f32([2, 32, 32]), label: f32([3, 32, 32]) });
    const vol = await train();
    assert.equal(vol.code, 1, vol.err);
    assert.match(vol.err, /case0001\.npy\.h5: key "label" has shape \(3,32,32\), image has/);
    assert.ok(!(await exists(`${dir}/runs/s`)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a run that stopped before its first checkpoint is started over by the same command, or by --resume; the NaN advice fits", async () => {
  const runs = await Deno.makeTempDir({ prefix: "vmunet-start-" });
  try {
    const train = (name: string, extra: string[], afterStep?: (info: StepInfo) => void) =>
      runMain(["train", "--runs-dir", runs, "--name", name, ...TINY, ...extra], { afterStep });
    const poison = ({ step, model }: StepInfo) => {
      if (step === 0) {
        model.loadStateDict(
          new Map([["vmunet.final_conv.bias", { shape: [1], data: new Float32Array([NaN]) }]]),
          { strict: false },
        );
      }
    };
    for (const [name, again] of [["n", []], ["r", ["--resume"]]] as const) {
      const nan = await train(name, [], poison);
      assert.equal(nan.code, 3, nan.err);
      assert.match(
        nan.err,
        /training loss became NaN at epoch 1, step 2 .*no checkpoint was written/,
      );
      assert.match(nan.err, /starts the run over\), e\.g\. --lr 0\.0003\./);
      assert.doesNotMatch(nan.err, /--resume|--max-grad-norm 1/); // no checkpoint; clip already 1
      assert.ok(await exists(`${runs}/${name}/config.json`));
      assert.ok(!(await exists(`${runs}/${name}/last.safetensors`)));
      const next = await train(name, [...again]);
      assert.equal(next.code, 0, next.err);
      assert.match(
        next.out,
        new RegExp(
          `/${name} holds a run that stopped before its first checkpoint: starting it over`,
        ),
      );
      const records = await readJsonl(`${runs}/${name}/log.jsonl`);
      assert.deepEqual(records.map((r) => `${r.type}${r.epoch}`), ["epoch1", "eval1"]);
    }
    // A run with a checkpoint still needs --resume or --force.
    const kept = await train("n", []);
    assert.equal(kept.code, 2);
    assert.match(kept.err, /already holds a run: pass --resume to continue it or --force/);
  } finally {
    await Deno.remove(runs, { recursive: true });
  }
});

Deno.test("the NaN advice offers only what can work", () => {
  const off = resolveConfig("isic18", { dataDir: "d" }); // lr 1e-3, clipping off
  assert.equal(
    divergenceAdvice(off, true, "r"),
    "Resuming unchanged would repeat the same steps; continue it with --resume --name r " +
      "--max-grad-norm 1 (clipping is off now), or start again with a lower learning rate " +
      "(--lr 0.0001 --force).",
  );
  assert.equal(
    divergenceAdvice(off, false, "r"),
    "Start again with a lower learning rate (the same command starts the run over), e.g. " +
      "--lr 0.0001, or with --max-grad-norm 1.",
  );
  const clipped = resolveConfig("synthetic", {}); // lr 5e-3, clip 1
  assert.match(divergenceAdvice(clipped, true, "r"), /--max-grad-norm 0\.1 \(now 1\)/);
  assert.doesNotMatch(divergenceAdvice(clipped, false, "r"), /--resume|--max-grad-norm/);
});
