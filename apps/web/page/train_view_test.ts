import assert from "node:assert/strict";
import { Engine } from "@vmunet/tensor";
import { parseCheckpoint } from "@vmunet/vmunet";
import { weightsOf } from "../../train/checkpoint_format.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import { curvesSvg, pageTrainConfig, trainInPage } from "./train_view.ts";

Deno.test("the page's run (train app's loop and preset) lowers the loss; its checkpoint loads strictly", async () => {
  const engine = await Engine.create();
  try {
    const config = pageTrainConfig({
      epochs: 3,
      syntheticCount: 16,
      syntheticValCount: 8,
      imageSize: 32,
      dims: 8,
    });
    assert.equal(config.preset, "synthetic");
    assert.equal(config.workers, 0);
    const statuses: string[] = [];
    const result = await trainInPage(engine, config, new AbortController().signal, {
      status: (text) => statuses.push(text),
      curves: () => {},
    });
    const epochLoss = result.history.epochLoss.map((p) => p[1]);
    assert.equal(epochLoss.length, 3);
    assert.ok(epochLoss[2] < epochLoss[0], `loss did not fall: ${epochLoss}`);
    assert.equal(result.history.dice.length, 3);
    assert.ok(statuses.some((s) => /^epoch 3\/3 val loss [\d.]+ {2}mIoU/.test(s)), statuses.at(-1));
    assert.match(curvesSvg(result.history), /<svg[^]*Training loss[^]*<svg[^]*Validation/);
    const file = await parseCheckpoint(result.checkpoint, "page.safetensors");
    assert.equal(file.metadata.format, "vmunet-train-checkpoint");
    assert.equal(weightsOf(file).trainConfig?.imageSize, 32);
    const reloaded = await loadCheckpoint(engine, result.checkpoint, "page.safetensors", true);
    assert.match(reloaded.report, /safetensors: \d+ of \d+ parameters loaded, every key fits/);
    assert.equal(reloaded.imageSize, 32);
  } finally {
    await engine.close();
  }
});
