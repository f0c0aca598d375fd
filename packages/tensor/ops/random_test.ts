import assert from "node:assert/strict";
import { Engine } from "../engine.ts";
import { randomNormal, randomUniform, Rng } from "../rng.ts";
import { randomNormalTensor, randomUniformTensor } from "./random.ts";
import { assertClose } from "../_testing.ts";

const engine = await Engine.create();

Deno.test("randomUniformTensor() and randomNormalTensor() draw the CPU generator's values on the GPU", async () => {
  const rng = new Rng(31, 4);
  const u = randomUniformTensor(engine, [5, 7], rng);
  const z = randomNormalTensor(engine, [33], rng, 1, 0.5);
  const s = randomUniformTensor(engine, [10], rng, -2, 2);
  assert.equal(rng.stream, 7);
  assert.deepEqual(await u.read(), randomUniform(31, 4, 35));
  const cz = randomNormal(31, 5, 33).map((v) => 1 + 0.5 * v);
  assertClose(await z.read(), cz, 2e-5, 0, "normal");
  const cs = randomUniform(31, 6, 10).map((v) => -2 + 4 * v);
  assertClose(await s.read(), cs, 1e-6, 0, "scaled uniform");
  for (const t of [u, z, s]) t.dispose();
});

Deno.test("random tensor tests release the engine", () => {
  engine.destroy();
});
