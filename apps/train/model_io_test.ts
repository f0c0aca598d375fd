import assert from "node:assert/strict";
import { CheckpointError, parameterSpecs, preset, type SafetensorsEntry } from "@vmunet/vmunet";
import { checkWeightsFit, inferModelConfig, modelConfigOf } from "./model_io.ts";
import { resolveConfig } from "./train_config.ts";

function entries(specs: { name: string; shape: number[] }[]): Map<string, SafetensorsEntry> {
  return new Map(
    specs.map((
      s,
    ) => [s.name, { name: s.name, dtype: "F32", shape: s.shape, bytes: new Uint8Array() }]),
  );
}

Deno.test("inferModelConfig() recovers widths, depths, state size and classes from official keys", () => {
  for (
    const config of [
      preset("vmunet-s"),
      preset("vmunet-s", { depths: [2, 2, 9, 2], numClasses: 9 }), // the code default depths
      preset("vmunet-t", { dims: 8, depths: [1, 1, 1, 1], depthsDecoder: [1, 1, 1, 1], dState: 4 }),
    ]
  ) {
    const inferred = inferModelConfig("x.pth", entries(parameterSpecs(config)));
    assert.deepEqual(
      [
        inferred.dims,
        inferred.depths,
        inferred.depthsDecoder,
        inferred.dState,
        inferred.numClasses,
      ],
      [config.dims, config.depths, config.depthsDecoder, config.dState, config.numClasses],
    );
  }
  assert.throws(
    () => inferModelConfig("vmamba.pth", new Map()),
    (e: Error) =>
      e instanceof CheckpointError &&
      /vmamba\.pth: not a VM-UNet checkpoint: key "vmunet\.patch_embed\.proj\.weight" is missing/
        .test(e.message),
  );
});

Deno.test("checkWeightsFit() lists missing, unexpected and mismatched keys", () => {
  const small = preset("vmunet-t", { dims: 8, depths: [1, 1, 1, 1], depthsDecoder: [1, 1, 1, 1] });
  const other = preset("vmunet-t", {
    dims: 8,
    depths: [2, 1, 1, 1],
    depthsDecoder: [1, 1, 1, 1],
    numClasses: 9,
  });
  assert.throws(
    () => checkWeightsFit("w.safetensors", other, entries(parameterSpecs(small))),
    (e: Error) =>
      e instanceof CheckpointError &&
      /w\.safetensors: was saved for another model configuration/.test(e.message) &&
      /missing keys \(\d+\): vmunet\.layers\.0\.blocks\.1\.ln_1\.weight/.test(e.message) &&
      /shape mismatch for vmunet\.final_conv\.weight: model \[9,2,1,1\], checkpoint \[1,2,1,1\]/
        .test(e.message),
  );
  checkWeightsFit("w.safetensors", small, entries(parameterSpecs(small)));
});

Deno.test("modelConfigOf() applies the run's architecture settings to the model preset", () => {
  const c = modelConfigOf(resolveConfig("synapse", { dataDir: "d", model: "vmunet-t" }));
  assert.deepEqual([c.dims, c.numClasses, c.inChannels, c.dropPathRate], [16, 9, 1, 0.2]);
  const s = modelConfigOf(resolveConfig("synthetic", {}));
  assert.deepEqual([s.dims, s.depths, s.depthsDecoder, s.dropPathRate], [32, [1, 1, 1, 1], [
    1,
    1,
    1,
    1,
  ], 0]);
});
