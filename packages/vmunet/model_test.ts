import assert from "node:assert/strict";
import { DtypeError, Engine, mul, Rng, ShapeError, sum, type Tensor } from "@vmunet/tensor";
import { serializeSafetensors } from "@vmunet/tensor/safetensors";
import {
  CheckpointError,
  parameterCount,
  parameterSpecs,
  preset,
  type StateDictTensor,
  VMUNet,
  type VMUNetConfig,
} from "./mod.ts";
import { vmunetReference } from "./_reference.ts";
import { readCheckpoint, saveModel } from "./fs.ts";

const engine = await Engine.create();

function seeded(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from(new Rng(seed).uniform(n), (u) => lo + (hi - lo) * u);
}

async function lookupOf(model: VMUNet): Promise<(name: string) => Float64Array> {
  const values = new Map<string, Float64Array>();
  for (const [k, t] of model.parameters) values.set(k, Float64Array.from(await t.read()));
  return (name) => {
    const v = values.get(name);
    if (!v) throw new Error(`no parameter ${name}`);
    return v;
  };
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0, m = 0;
  for (let i = 0; i < b.length; i++) {
    e = Math.max(e, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return e / Math.max(1, m);
}

const tiny = (over: Partial<VMUNetConfig> = {}): VMUNetConfig =>
  preset("vmunet-t", { dims: 8, dState: 4, dropPathRate: 0, ...over });

Deno.test("an instantiated vmunet-s holds 27,427,561 parameters under the official keys, shapes and order", () => {
  const model = VMUNet.create(engine, preset("vmunet-s"), { seed: 0 });
  assert.equal(model.parameterCount, 27_427_561);
  const specs = parameterSpecs(preset("vmunet-s"));
  assert.equal(parameterCount(specs), 27_427_561);
  assert.deepEqual([...model.parameters.keys()], specs.map((s) => s.name));
  for (const s of specs) assert.deepEqual(model.parameters.get(s.name)!.shape, s.shape);
  for (const t of model.parameters.values()) t.dispose();
});

Deno.test("VMUNet forward matches the float64 reference of the official model on non-square inputs", async () => {
  for (
    const [config, shape] of [
      [tiny(), [1, 3, 32, 64]],
      [tiny({ numClasses: 3, inChannels: 1, depthsDecoder: [1, 2, 1, 1] }), [2, 1, 64, 32]],
    ] as [VMUNetConfig, number[]][]
  ) {
    const model = VMUNet.create(engine, config, { seed: 7 });
    const xv = seeded(shape.reduce((a: number, b: number) => a * b, 1), 3, 0, 2);
    const r = engine.scope(() => model.forward(engine.tensor(xv, shape), { training: false }));
    const want = vmunetReference(config, await lookupOf(model), { data: xv, shape: [...shape] });
    assert.deepEqual(r.logits.shape, want.logits.shape);
    const e1 = maxRelErr(await r.logits.read(), want.logits.data);
    const e2 = maxRelErr(await r.output.read(), want.output.data);
    assert(e1 < 1e-4 && e2 < 1e-4, `nc ${config.numClasses}: logits ${e1}, output ${e2}`);
  }
});

Deno.test("VMUNet drop-path rates follow the official linspace schedules (decoder reversed)", () => {
  const model = VMUNet.create(engine, preset("vmunet-t", { dims: 4, dState: 1 }), { seed: 0 });
  const rate = preset("vmunet-t").dropPathRate;
  const enc = model.layers.flatMap((l) => l.blocks.map((b) => b.dropPath));
  const dec = model.layersUp.flatMap((l) => l.blocks.map((b) => b.dropPath));
  assert.equal(enc.length, 8);
  assert.equal(dec.length, 7);
  enc.forEach((p, i) => assert(Math.abs(p - (rate * i) / 7) < 1e-7, `encoder ${i}: ${p}`));
  dec.forEach((p, i) => assert(Math.abs(p - (rate * (6 - i)) / 6) < 1e-7, `decoder ${i}: ${p}`));
});

Deno.test("VMUNet training mode with drop path is seeded: same rng seed, same output; eval ignores it", async () => {
  const config = tiny({ dropPathRate: 0.5 });
  const model = VMUNet.create(engine, config, { seed: 1 });
  const x = engine.tensor(seeded(2 * 3 * 32 * 32, 4), [2, 3, 32, 32]);
  const run = (seed: number, training: boolean) =>
    engine.scope(() => model.forward(x, { training, rng: new Rng(seed) }).logits);
  const a = await run(5, true).read(), b = await run(5, true).read();
  const c = await run(6, true).read();
  const e1 = await run(5, false).read(), e2 = await run(6, false).read();
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual(e1, e2);
});

Deno.test("VMUNet.loss is BceDice on probabilities for one class and CeDice on logits otherwise", async () => {
  const bin = VMUNet.create(engine, tiny(), { seed: 2 });
  const x = engine.tensor(seeded(3 * 32 * 32, 5), [1, 3, 32, 32]);
  const t = engine.tensor(seeded(32 * 32, 6).map((v) => (v > 0 ? 1 : 0)), [1, 1, 32, 32]);
  const lb = await engine.scope(() => bin.loss(bin.forward(x).output, t)).read();
  const p = Float64Array.from(await engine.scope(() => bin.forward(x).output).read());
  const tv = await t.read();
  let bce = 0, pt = 0, ps = 0, ts = 0;
  for (let i = 0; i < p.length; i++) {
    bce -= tv[i] * Math.max(Math.log(p[i]), -100) +
      (1 - tv[i]) * Math.max(Math.log(1 - p[i]), -100);
    pt += p[i] * tv[i];
    ps += p[i];
    ts += tv[i];
  }
  const want = bce / p.length + 1 - (2 * pt + 1) / (ps + ts + 1);
  assert(Math.abs(lb[0] - want) < 1e-5 * want, `${lb[0]} vs ${want}`);
  const mc = VMUNet.create(engine, tiny({ numClasses: 3 }), { seed: 2 });
  const labels = engine.tensor(seeded(32 * 32, 7).map((v) => (v > 0.3 ? 2 : v > -0.3 ? 1 : 0)), [
    1,
    32,
    32,
  ], { dtype: "i32" });
  const lm = await engine.scope(() => mc.loss(mc.forward(x).output, labels)).read();
  const z = await engine.scope(() => mc.forward(x).output).read();
  const lab = await labels.read();
  const hw = 32 * 32;
  let ce = 0;
  const inter = [0, 0, 0], s2 = [0, 0, 0], t2 = [0, 0, 0];
  for (let i = 0; i < hw; i++) {
    const v = [0, 1, 2].map((k) => z[k * hw + i]);
    const m = Math.max(...v);
    const e = v.map((a) => Math.exp(a - m));
    const tot = e.reduce((a, b) => a + b, 0);
    ce -= Math.log(e[lab[i]] / tot);
    for (let k = 0; k < 3; k++) {
      const sk = e[k] / tot, tk = lab[i] === k ? 1 : 0;
      inter[k] += sk * tk;
      s2[k] += sk * sk;
      t2[k] += tk;
    }
  }
  const dice = [0, 1, 2].map((k) => 1 - (2 * inter[k] + 1e-5) / (s2[k] + t2[k] + 1e-5));
  const wantMc = ce / hw + dice.reduce((a, b) => a + b, 0) / 3;
  assert(Math.abs(lm[0] - wantMc) < 1e-5 * wantMc, `${lm[0]} vs ${wantMc}`);
  assert.throws(() => engine.scope(() => mc.loss(mc.forward(x).output, t)), DtypeError);
});

Deno.test("VMUNet rejects inputs with the wrong channels or sizes that are not multiples of 32", () => {
  const model = VMUNet.create(engine, tiny({ inChannels: 1 }), { seed: 0 });
  assert.throws(
    () => model.forward(engine.zeros([1, 3, 32, 32])),
    (e: Error) => e instanceof ShapeError && /\(B, 1, H, W\), got \[1, 3, 32, 32\]/.test(e.message),
  );
  assert.throws(
    () => model.forward(engine.zeros([1, 1, 32, 48])),
    (e: Error) => e instanceof ShapeError && /multiples of 32.*\[1, 1, 32, 48\]/.test(e.message),
  );
});

Deno.test("stateDict() → loadStateDict() strict round-trips a model into another seed's model", async () => {
  const a = VMUNet.create(engine, tiny(), { seed: 10 });
  const b = VMUNet.create(engine, tiny(), { seed: 11 });
  const x = engine.tensor(seeded(3 * 32 * 32, 9), [1, 3, 32, 32]);
  const ya = await engine.scope(() => a.forward(x).logits).read();
  assert.notDeepEqual(ya, await engine.scope(() => b.forward(x).logits).read());
  const report = b.loadStateDict(await a.stateDict(), { strict: true });
  assert.deepEqual(report, { missing: [], unexpected: [], mismatched: [] });
  assert.deepEqual(await engine.scope(() => b.forward(x).logits).read(), ya);
});

Deno.test("strict loadStateDict lists every missing, unexpected and mismatched key in one error; non-strict loads the rest", async () => {
  const a = VMUNet.create(engine, tiny(), { seed: 12 });
  const b = VMUNet.create(engine, tiny(), { seed: 13 });
  const sd = await a.stateDict();
  const missing = "vmunet.layers.1.blocks.0.self_attention.A_logs";
  const bad = "vmunet.final_conv.bias";
  sd.delete(missing);
  sd.set(bad, { shape: [2], data: new Float32Array(2) });
  sd.set("vmunet.head.weight", { shape: [1], data: new Float32Array(1) });
  const before = await b.parameters.get(missing)!.read();
  assert.throws(
    () => b.loadStateDict(sd, { strict: true, source: "ckpt.safetensors" }),
    (e: Error) =>
      e instanceof CheckpointError && e.message.startsWith("ckpt.safetensors:") &&
      e.message.includes(missing) && e.message.includes("vmunet.head.weight") &&
      e.message.includes(`shape mismatch for ${bad}`),
  );
  const report = b.loadStateDict(sd, { strict: false });
  assert.deepEqual(report.missing, [missing]);
  assert.deepEqual(report.unexpected, ["vmunet.head.weight"]);
  assert.deepEqual(report.mismatched.map((m) => m.name), [bad]);
  assert.deepEqual(await b.parameters.get(missing)!.read(), before);
  const k = "vmunet.layers_up.2.upsample.expand.weight";
  assert.deepEqual(await b.parameters.get(k)!.read(), sd.get(k)!.data);
});

Deno.test("save() and load() round-trip through a safetensors file with the configuration in its metadata", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = VMUNet.create(engine, tiny({ numClasses: 2 }), { seed: 14 });
    await saveModel(a, `${dir}/w.safetensors`, { epoch: "3" });
    const b = VMUNet.create(engine, tiny({ numClasses: 2 }), { seed: 15 });
    b.load(await readCheckpoint(`${dir}/w.safetensors`));
    const k = "vmunet.layers.0.blocks.1.self_attention.x_proj_weight";
    assert.deepEqual(await b.parameters.get(k)!.read(), await a.parameters.get(k)!.read());
    const c = VMUNet.create(engine, tiny({ numClasses: 3 }), { seed: 15 });
    const file = await readCheckpoint(`${dir}/w.safetensors`);
    assert.throws(
      () => c.load(file),
      (e: unknown) => e instanceof CheckpointError && e.message.includes(`${dir}/w.safetensors`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadPretrainedVMamba copies the encoder, mirrors it into the decoder and keeps the expands", async () => {
  const src = VMUNet.create(engine, tiny(), { seed: 20 });
  const dst = VMUNet.create(engine, tiny(), { seed: 21 });
  // A VMamba-style file: keys without `vmunet.`, extra blocks in layer 2 and a head.
  const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
  for (const [k, v] of await src.stateDict()) {
    if (!k.startsWith("vmunet.layers.") && !k.startsWith("vmunet.patch_embed.")) continue;
    tensors[k.slice("vmunet.".length)] = { dtype: "F32", shape: v.shape, data: v.data };
  }
  tensors["layers.2.blocks.5.ln_1.weight"] = {
    dtype: "F32",
    shape: [32],
    data: new Float32Array(32),
  };
  tensors["head.weight"] = { dtype: "F32", shape: [4, 64], data: new Float32Array(256) };
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/vmamba.safetensors`, serializeSafetensors(tensors));
    const keep = await dst.parameters.get("vmunet.final_conv.weight")!.read();
    const { mapping, report } = dst.loadPretrainedVMamba(
      await readCheckpoint(`${dir}/vmamba.safetensors`),
    );
    assert(mapping.dropped.includes("head.weight"));
    assert(report.missing.includes("vmunet.final_up.expand.weight"));
    const read = (m: VMUNet, k: string) => m.parameters.get(k)!.read();
    const enc = "vmunet.layers.1.blocks.1.self_attention.A_logs";
    assert.deepEqual(await read(dst, enc), await read(src, enc));
    assert.deepEqual(
      await read(dst, "vmunet.layers_up.3.blocks.0.self_attention.in_proj.weight"),
      await read(src, "vmunet.layers.0.blocks.0.self_attention.in_proj.weight"),
    );
    assert.deepEqual(await read(dst, "vmunet.final_conv.weight"), keep);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("backward through the whole model reaches every parameter", () => {
  const model = VMUNet.create(engine, tiny({ numClasses: 2 }), { seed: 30 });
  const x = engine.tensor(seeded(3 * 32 * 32, 31), [1, 3, 32, 32]);
  engine.scope(() => {
    const { logits } = model.forward(x);
    sum(mul(logits, logits)).backward();
  });
  const without = [...model.parameters].filter(([, t]) => !t.grad).map(([k]) => k);
  assert.deepEqual(without, []);
  model.zeroGrad();
  assert([...model.parameters.values()].every((t: Tensor) => t.grad === null));
});

export type { StateDictTensor };
