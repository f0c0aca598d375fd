import assert from "node:assert/strict";
import { moments } from "../../tools/testing.ts";
import { Engine, Rng } from "@vmunet/tensor";
import {
  FinalPatchExpand2D,
  initLinearWeight,
  ParameterFactory,
  PatchEmbed2D,
  PatchMerging2D,
  VSSBlock,
} from "./mod.ts";

const engine = await Engine.create();

function assertUniform(name: string, v: ArrayLike<number>, bound: number): void {
  const s = moments(v);
  assert(s.min >= -bound && s.max <= bound, `${name}: outside ±${bound}: [${s.min}, ${s.max}]`);
  // Tolerances scale with the sample count (a fixed seed makes the test deterministic).
  const fill = Math.max(0.02, 16 / v.length);
  assert(s.max > (1 - fill) * bound && s.min < -(1 - fill) * bound, `${name}: not ±${bound}`);
  const want = bound / Math.sqrt(3);
  const tol = Math.max(0.03, 4 * Math.sqrt(0.2 / v.length));
  assert(Math.abs(s.std - want) < tol * want, `${name}: std ${s.std}, want ${want}`);
}

Deno.test("VSSBlock parameters follow the official initialisation in distribution (C 96)", async () => {
  const block = new VSSBlock(new ParameterFactory(engine, new Rng(42)), { dModel: 96 });
  const p = new Map<string, Float32Array>();
  for (const [k, t] of block.namedParameters()) p.set(k, (await t.read()) as Float32Array);
  const sa = (k: string) => p.get(`self_attention.${k}`)!;
  const [di, r, n] = [192, 6, 16];
  for (const k of ["in_proj.weight", "out_proj.weight"]) {
    const s = moments(sa(k));
    assert(Math.abs(s.std - 0.02) < 0.001 && Math.abs(s.mean) < 0.001, `${k}: ${s.std}`);
  }
  assertUniform("x_proj_weight", sa("x_proj_weight"), 1 / Math.sqrt(di));
  assertUniform("dt_projs_weight", sa("dt_projs_weight"), r ** -0.5);
  assertUniform("conv2d.weight", sa("conv2d.weight"), 1 / 3);
  assertUniform("conv2d.bias", sa("conv2d.bias"), 1 / 3);
  // softplus(bias) = dt, log-uniform on [0.001, 0.1].
  const logDt = Array.from(sa("dt_projs_bias"), (b) => Math.log(Math.log1p(Math.exp(b))));
  const ls = moments(logDt);
  assert(ls.min >= Math.log(1e-3) - 1e-4 && ls.max <= Math.log(0.1) + 1e-4, `dt range`);
  assert(Math.abs(ls.mean - (Math.log(1e-3) + Math.log(0.1)) / 2) < 0.15, `log dt mean ${ls.mean}`);
  const aLogs = sa("A_logs");
  assert.equal(aLogs.length, 4 * di * n);
  for (let i = 0; i < aLogs.length; i++) {
    assert(Math.abs(aLogs[i] - Math.log((i % n) + 1)) < 1e-6);
  }
  assert(sa("Ds").every((v) => v === 1));
  for (const k of ["ln_1.weight", "self_attention.out_norm.weight"]) {
    assert(p.get(k)!.every((v) => v === 1));
  }
  for (const k of ["ln_1.bias", "self_attention.out_norm.bias"]) {
    assert(p.get(k)!.every((v) => v === 0));
  }
});

Deno.test("patch embedding, merging and expand weights use the conv default and trunc-normal(0.02)", async () => {
  const f = new ParameterFactory(engine, new Rng(3));
  const embed = new PatchEmbed2D(f.child("patch_embed"), { embedDim: 96 });
  assertUniform("proj.weight", await embed.projWeight.read(), 1 / Math.sqrt(48));
  assertUniform("proj.bias", await embed.projBias.read(), 1 / Math.sqrt(48));
  assert.equal(embed.projWeight.label, "patch_embed.proj.weight");
  const merge = new PatchMerging2D(f, { dim: 96 });
  const up = new FinalPatchExpand2D(f, { dim: 96 });
  for (const w of [merge.reductionWeight, up.expandWeight]) {
    const s = moments(await w.read());
    assert(Math.abs(s.std - 0.02) < 0.001, `std ${s.std}`);
  }
});

Deno.test("initLinearWeight is the truncated normal: redraws values outside tight bounds", () => {
  const tight = initLinearWeight([20000], new Rng(1), 1, -0.5, 3.5);
  const s = moments(tight);
  assert(s.min >= -0.5 && s.max <= 3.5);
  const wide = initLinearWeight([20000], new Rng(1), 1, -3.5, 3.5);
  const w = moments(wide);
  assert(w.min >= -3.5 && w.max <= 3.5 && Math.abs(w.std - 0.9935) < 0.02, `std ${w.std}`);
});
