import assert from "node:assert/strict";
import { parameterSpecs, preset, serializeWeights } from "@vmunet/vmunet";
import { parseEvalArgs, parseTrainArgs } from "./cli.ts";
import { withTempDir } from "../../tools/testing.ts";
import { cli, exists, runMain } from "./_testing.ts";
import { resolveTrainInvocation } from "./train.ts";
import { resolveConfig, TRAIN_PRESETS, UsageError } from "./train_config.ts";

Deno.test("an unknown flag is a usage error listing the valid flags", async () => {
  const r = await runMain(["train", "--bacth-size", "4"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown flag --bacth-size; valid flags: .*--batch-size.*--resume/);
  const e = await runMain(["eval", "--checkpoint", "x", "--lr", "1"]);
  assert.equal(e.code, 2);
  assert.match(e.err, /eval: unknown flag --lr; valid flags: .*--checkpoint/);
});

Deno.test("an unknown preset or command is a usage error listing the valid ones", async () => {
  const r = await runMain(["train", "--preset", "isic19"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown preset "isic19"; valid presets: synthetic, isic17, isic18, synapse/);
  const c = await runMain(["fit"]);
  assert.equal(c.code, 2);
  assert.match(c.err, /unknown command "fit"; valid commands: train, eval, predict/);
});

Deno.test("malformed values name the flag", () => {
  assert.throws(() => parseTrainArgs(["--epochs", "two"]), /--epochs: "two" is not a number/);
  assert.throws(
    () => parseTrainArgs(["--batch-size", "1.5"]),
    /--batch-size: "1.5" is not an integer/,
  );
  assert.throws(
    () => resolveConfig("synthetic", { imageSize: 48 }),
    /"imageSize" must be a multiple of 32/,
  );
  assert.throws(
    () => resolveConfig("synthetic", { selection: "best" }),
    /"selection" must be one of official, val-loss, train-loss, val-dice/,
  );
  assert.throws(() => resolveConfig("synthetic", { depths: [1, 1] }), /"depths" must be 4/);
  assert.throws(() => parseEvalArgs(["--threshold", "2"]), /--threshold must be in \(0, 1\)/);
});

Deno.test("settings come from the preset, then the config file, then flags", async () => {
  await withTempDir("cli_test_", async (dir) => {
    await Deno.writeTextFile(
      `${dir}/c.json`,
      JSON.stringify({ preset: "synthetic", epochs: 3, lr: 0.01, batchSize: 4 }),
    );
    const { config, runDir } = await resolveTrainInvocation(
      parseTrainArgs(["--config", `${dir}/c.json`, "--lr", "0.02", "--name", "x"]),
    );
    assert.equal(config.epochs, 3); // file
    assert.equal(config.batchSize, 4); // file
    assert.equal(config.lr, 0.02); // flag over file
    assert.equal(config.imageSize, TRAIN_PRESETS.synthetic.imageSize); // preset
    assert.equal(runDir, "runs/x");
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify({ learningRate: 1 }));
    await assert.rejects(
      resolveTrainInvocation(parseTrainArgs(["--config", `${dir}/bad.json`])),
      (e: Error) =>
        e instanceof UsageError &&
        /unknown setting "learningRate"; valid settings: .*batchSize/.test(e.message),
    );
    await Deno.writeTextFile(`${dir}/broken.json`, "{ epochs: 3 ");
    await assert.rejects(
      resolveTrainInvocation(parseTrainArgs(["--config", `${dir}/broken.json`])),
      /--config .*broken\.json: not valid JSON/,
    );
  });
});

Deno.test("the paper presets carry the official settings and official selection", () => {
  const isic = resolveConfig("isic18", { dataDir: "data/isic2018" });
  assert.deepEqual(
    [isic.model, isic.imageSize, isic.batchSize, isic.epochs, isic.lr, isic.weightDecay],
    ["vmunet-s", 256, 32, 300, 1e-3, 1e-2],
  );
  assert.deepEqual([isic.tMax, isic.etaMin, isic.dropPath, isic.seed], [50, 1e-5, 0.2, 42]);
  assert.equal(isic.selection, "val-loss");
  const syn = resolveConfig("synapse", { dataDir: "data/Synapse" });
  assert.deepEqual([syn.imageSize, syn.numClasses, syn.inChannels, syn.tMax], [224, 9, 1, 100]);
  assert.equal(syn.selection, "train-loss");
  assert.equal(
    resolveConfig("isic17", { dataDir: "d", selection: "official" }).selection,
    "val-loss",
  );
  assert.equal(
    resolveConfig("synapse", { dataDir: "d", selection: "official" }).selection,
    "train-loss",
  );
  assert.throws(() => resolveConfig("isic18", {}), /isic data needs --data DIR/);
});

Deno.test("a missing data folder is reported with its path before anything starts", async () => {
  await withTempDir("cli_test_", async (runs) => {
    const r = await runMain([
      "train",
      "--preset",
      "isic18",
      "--data",
      `${runs}/no-such-folder`,
      "--runs-dir",
      runs,
      "--name",
      "x",
    ]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--data .*no-such-folder: folder not found/);
    assert.equal(await Deno.stat(`${runs}/x`).then(() => true, () => false), false);
    const e = await runMain(["train", "--data", `${runs}/nothing`, "--runs-dir", runs]);
    assert.equal(e.code, 2);
    assert.match(e.err, /--data .*nothing: folder not found/);
  });
});

Deno.test("an output folder that already holds a run asks for --resume or --force", async () => {
  await withTempDir("cli_test_", async (runs) => {
    await Deno.mkdir(`${runs}/x`);
    await Deno.writeTextFile(`${runs}/x/config.json`, "{}");
    await Deno.writeTextFile(`${runs}/x/last.safetensors`, "");
    const r = await runMain(["train", "--runs-dir", runs, "--name", "x"]);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /x already holds a run: pass --resume to continue it or --force to replace it/,
    );
    const n = await runMain(["train", "--runs-dir", runs, "--name", "y", "--resume"]);
    assert.equal(n.code, 2);
    assert.match(n.err, /--resume: .*y holds no run/);
  });
});

Deno.test("an unwritable run folder is reported before training", async () => {
  await withTempDir("cli_test_", async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "not a folder");
    const r = await runMain(["train", "--runs-dir", `${dir}/file/runs`, "--name", "x"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /cannot write to .*file\/runs\/x/);
  });
});

Deno.test("resuming refuses changed settings other than epochs and logging", async () => {
  await withTempDir("cli_test_", async (runs) => {
    await Deno.mkdir(`${runs}/x`);
    const config = resolveConfig("synthetic", {});
    await Deno.writeTextFile(`${runs}/x/config.json`, JSON.stringify(config));
    await assert.rejects(
      resolveTrainInvocation(
        parseTrainArgs(["--runs-dir", runs, "--name", "x", "--resume", "--lr", "0.1"]),
      ),
      new RegExp(`"lr" cannot change when resuming \\(run has ${config.lr}, asked 0\\.1\\)`),
    );
    const ok = await resolveTrainInvocation(
      parseTrainArgs(["--runs-dir", runs, "--name", "x", "--resume", "--epochs", "9"]),
    );
    assert.equal(ok.config.epochs, 9);
  });
});

Deno.test("a checkpoint of another configuration names the mismatched keys", async () => {
  await withTempDir("cli_test_", async (dir) => {
    const config = preset("vmunet-t", {
      dims: 8,
      depths: [1, 1, 1, 1],
      depthsDecoder: [1, 1, 1, 1],
    });
    const specs = parameterSpecs(config);
    const values = new Map(
      specs.map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1))]),
    );
    await Deno.writeFile(`${dir}/w.safetensors`, serializeWeights(config, values, specs));
    const r = await runMain(["eval", "--checkpoint", `${dir}/w.safetensors`, "--dims", "16"]);
    assert.equal(r.code, 1);
    assert.match(r.err, /w\.safetensors: was saved for another model configuration/);
    assert.match(
      r.err,
      /shape mismatch for vmunet\.patch_embed\.proj\.weight: model \[16,3,4,4\], checkpoint \[8,3,4,4\]/,
    );
    const p = await runMain([
      "predict",
      "--checkpoint",
      `${dir}/w.safetensors`,
      "--input",
      `${dir}/w.safetensors`,
    ]);
    assert.equal(p.code, 2);
    assert.match(p.err, /--input .*w\.safetensors: unsupported file type/);
    const nine = preset("vmunet-t", { ...config, numClasses: 9 });
    const nineSpecs = parameterSpecs(nine);
    await Deno.writeFile(
      `${dir}/nine.safetensors`,
      serializeWeights(
        nine,
        new Map(nineSpecs.map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b))])),
        nineSpecs,
      ),
    );
    const c = await runMain(["eval", "--checkpoint", `${dir}/nine.safetensors`]);
    assert.equal(c.code, 2);
    assert.match(c.err, /nine\.safetensors predicts 9 class\(es\) but the synthetic data has 1/);
    const m = await runMain(["eval", "--checkpoint", `${dir}/missing.pth`]);
    assert.equal(m.code, 1);
    assert.match(m.err, /missing\.pth: file not found/);
  });
});

Deno.test("--help prints every flag of each command", async () => {
  for (const command of ["train", "eval", "predict"]) {
    const r = await runMain([command, "--help"]);
    assert.equal(r.code, 0);
    assert.match(r.out, new RegExp(`deno task ${command}`));
  }
  const t = await runMain(["train", "--help"]);
  for (const flag of ["--preset", "--resume", "--force", "--batch-size", "--selection"]) {
    assert.ok(t.out.includes(flag), flag);
  }
});

Deno.test("usage errors exit 2 with one line naming the setting, before anything is made", async () => {
  await withTempDir("cli_test_", async (runs) => {
    for (
      const [flags, message] of [
        [["--model", "vmunet-x"], /unknown model preset "vmunet-x"; valid presets: vmunet-s/],
        [["--epochs", "1e20"], /"epochs" must be at most 100,000, got 100000000000000000000/],
        [["--lr", "0.001", "--eta-min", "0.01"], /"etaMin" \(0\.01\) is above "lr" \(0\.001\)/],
        [["--bacth-size", "4"], /unknown flag --bacth-size/],
        [["--dims", "6"], /dims\[0\] = 6 must be a multiple of 4/],
      ] as const
    ) {
      const r = await cli(["train", "--runs-dir", runs, "--name", "x", ...flags]);
      assert.equal(r.code, 2, `${flags}: ${r.err}`);
      assert.match(r.err, message);
      assert.match(r.err, /^error: [^\n]*\(see --help\)\n$/, `${flags}: ${r.err}`);
      assert.equal(r.out, "");
      assert.ok(!(await exists(`${runs}/x`)));
    }
  });
});

Deno.test("a raw pickle given as a checkpoint is named as such, not as a broken safetensors file", async () => {
  await withTempDir("cli_test_", async (dir) => {
    // pickle.dumps({"a": 1}, protocol=4)
    const pickle = [
      128,
      4,
      149,
      10,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      125,
      148,
      140,
      1,
      97,
      148,
      75,
      1,
      115,
      46,
    ];
    await Deno.writeFile(`${dir}/model.pkl`, new Uint8Array(pickle));
    for (const extra of [["eval"], ["predict", "--input", dir]]) {
      const r = await cli([...extra, "--checkpoint", `${dir}/model.pkl`]);
      assert.equal(r.code, 1, r.err);
      assert.match(
        r.err,
        /^error: CheckpointError: .*model\.pkl: not a checkpoint: a raw Python pickle \(protocol 4\), not a PyTorch \.pth archive; load it in PyTorch/,
      );
      assert.doesNotMatch(r.err, /SafetensorsError|\d{12}/);
    }
  });
});
