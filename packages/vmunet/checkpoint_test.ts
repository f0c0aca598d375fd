import assert from "node:assert/strict";
import {
  parseSafetensors,
  type SafetensorsEntry,
  serializeSafetensors,
} from "@vmunet/tensor/safetensors";
import {
  CheckpointError,
  mapPretrainedVMamba,
  selectStateDict,
  serializeWeights,
} from "./checkpoint.ts";
import { readCheckpoint, writeFileAtomic } from "./fs.ts";
import { preset } from "./config.ts";
import { parameterSpecs } from "./state_dict.ts";

const entry = (name: string, shape: number[], fill = 0): SafetensorsEntry => {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill);
  return { name, dtype: "F32", shape, bytes: new Uint8Array(data.buffer) };
};

Deno.test("strict loading lists every missing, unexpected and mismatched key in one error", () => {
  const specs = [
    { name: "a", shape: [2] },
    { name: "b", shape: [3, 1] },
    { name: "c", shape: [1] },
  ];
  const tensors = new Map([
    ["a", entry("a", [2], 1)],
    ["b", entry("b", [1, 3])],
    ["extra", entry("extra", [4])],
  ]);
  let error: unknown;
  try {
    selectStateDict(specs, tensors, { source: "w.safetensors" });
  } catch (e) {
    error = e;
  }
  assert(error instanceof CheckpointError);
  assert(error.message.startsWith("w.safetensors:"));
  assert(error.message.includes("missing keys (1): c"), error.message);
  assert(error.message.includes("unexpected keys (1): extra"), error.message);
  assert(error.message.includes("shape mismatch for b: model [3,1], checkpoint [1,3]"));
  const loose = selectStateDict(specs, tensors, { strict: false });
  assert.deepEqual([...loose.values.keys()], ["a"]);
  assert.deepEqual(Array.from(loose.values.get("a")!), [1, 1]);
  assert.deepEqual(loose.report.missing, ["c"]);
});

Deno.test("serializeWeights() + readCheckpoint() round-trip weights and configuration", async () => {
  const config = preset("vmunet-t", { numClasses: 3 });
  const specs = parameterSpecs(config);
  const values = new Map(
    specs.map((s, i) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(i)]),
  );
  const dir = await Deno.makeTempDir();
  const path = `${dir}/w.safetensors`;
  await writeFileAtomic(path, serializeWeights(config, values, specs, { epoch: "3" }));
  const file = await readCheckpoint(path);
  assert.equal(file.format, "safetensors");
  assert.deepEqual(file.config, { ...config });
  assert.equal(file.metadata.epoch, "3");
  const loaded = selectStateDict(specs, file.tensors);
  assert.equal(loaded.values.get(specs[5].name)![0], 5);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["w.safetensors"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("readCheckpoint() reads an official .pth by its bytes whatever its extension", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/best.bin`;
  await Deno.copyFile(new URL("./testdata/tiny_state_dict.pth", import.meta.url), path);
  const file = await readCheckpoint(path);
  assert.equal(file.format, "pth");
  assert(file.tensors.has("vmunet.a.weight"));
  await Deno.remove(dir, { recursive: true });
  // And safetensors bytes are not mistaken for a zip.
  const st = serializeSafetensors({ x: { dtype: "F32", shape: [1], data: [1] } });
  assert.equal(parseSafetensors(st).get("x").shape[0], 1);
});

Deno.test("mapPretrainedVMamba() copies the encoder and mirrors it to the decoder as load_from", () => {
  const config = preset("vmunet-t");
  const specs = parameterSpecs(config);
  // A VMamba-style checkpoint: same widths, depths [2,2,3,2] (the extra block is dropped),
  // plus a classifier head; keys have no "vmunet." prefix.
  const vmamba = parameterSpecs({ ...config, depths: [2, 2, 3, 2] })
    .filter((s) => /^vmunet\.(patch_embed|layers\.)/.test(s.name))
    .map((s) => ({ ...s, name: s.name.slice("vmunet.".length) }));
  vmamba.push({ name: "head.weight", shape: [1000, 128] }, { name: "norm.weight", shape: [128] });
  const pretrained = new Map(vmamba.map((s) => [s.name, entry(s.name, s.shape, 7)]));
  const mapped = mapPretrainedVMamba(pretrained, specs);
  assert(mapped.encoder.includes("vmunet.layers.0.blocks.1.self_attention.A_logs"));
  assert(mapped.encoder.includes("vmunet.layers.2.downsample.reduction.weight"));
  assert(mapped.decoder.includes("vmunet.layers_up.3.blocks.0.ln_1.weight")); // from layers.0
  assert(mapped.decoder.includes("vmunet.layers_up.0.blocks.1.self_attention.Ds")); // from layers.3
  assert(!mapped.decoder.includes("vmunet.layers_up.3.blocks.1.ln_1.weight")); // depth 1 there
  assert(mapped.dropped.includes("layers.2.blocks.2.ln_1.weight"));
  assert(mapped.dropped.includes("head.weight"));
  // PatchExpand2D, final_up and final_conv stay at their initial values.
  for (const name of mapped.tensors.keys()) assert(!/upsample|final_/.test(name), name);
  const result = selectStateDict(specs, mapped.tensors, { strict: false });
  assert(result.report.missing.includes("vmunet.final_conv.weight"));
  assert.equal(result.report.unexpected.length, 0);
});
