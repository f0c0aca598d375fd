import assert from "node:assert/strict";
import { goldenFiles } from "../../tools/golden/dirs.ts";
import { readSafetensors } from "@vmunet/tensor/fs";
import { ConfigError, configFromMetadata, preset } from "./config.ts";
import { parameterCount, parameterSpecs } from "./state_dict.ts";

Deno.test("vmunet-s has the paper's 27,427,561 parameters (1 class) and 27,427,761 (9)", () => {
  assert.equal(parameterCount(parameterSpecs(preset("vmunet-s"))), 27_427_561);
  assert.equal(parameterCount(parameterSpecs(preset("vmunet-s", { numClasses: 9 }))), 27_427_761);
  // docs/spec.md §2.9: the [2,2,9,2]/[2,9,2,2] code default has 44,273,833.
  const big = preset("vmunet-s", { depths: [2, 2, 9, 2], depthsDecoder: [2, 9, 2, 2] });
  assert.equal(parameterCount(parameterSpecs(big)), 44_273_833);
});

Deno.test("a VSS block of width C has 6C² + 16C·ceil(C/16) + 426C parameters", () => {
  for (const c of [96, 192, 384, 768]) {
    const specs = parameterSpecs(preset("vmunet-s", { dims: c })).filter((s) =>
      s.name.startsWith("vmunet.layers.0.blocks.0.")
    );
    assert.equal(parameterCount(specs), 6 * c * c + 16 * c * Math.ceil(c / 16) + 426 * c);
  }
});

Deno.test("parameterSpecs() lists every golden weights file's keys, shapes and order", async () => {
  let checked = 0;
  for (const path of await goldenFiles((name) => name.endsWith(".weights.safetensors"))) {
    const file = await readSafetensors(path);
    const specs = parameterSpecs(configFromMetadata(file.metadata));
    assert.deepEqual(specs.map((s) => s.name), [...file.tensors.keys()], path);
    for (const s of specs) assert.deepEqual(s.shape, file.get(s.name).shape, s.name);
    checked++;
  }
  assert(checked >= 2, `expected the two in-repo weights fixtures, found ${checked}`);
});

Deno.test("preset() and configFromMetadata() name what is wrong", () => {
  assert.throws(
    () => preset("vmunet-xl"),
    (e: unknown) => e instanceof ConfigError && /valid presets: vmunet-s, vmunet-t/.test(e.message),
  );
  assert.throws(
    () => configFromMetadata({ dims: "16", depths: "2,2,2,2", depths_decoder: "2,2,2,1" }),
    (e: unknown) => e instanceof ConfigError && e.message.includes(`"d_state"`),
  );
  assert.throws(
    () => preset("vmunet-s", { dims: 30 }),
    (e: unknown) => e instanceof ConfigError && e.message.includes("multiple of 4"),
  );
});
