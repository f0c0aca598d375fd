import assert from "node:assert/strict";
import { Engine } from "../engine.ts";
import { randomUniform, Rng } from "../rng.ts";
import { dropPathRef } from "../reference/nn_ops.ts";
import { dropPath, dropPathScales, residualDropPath } from "./drop_path.ts";
import { ShapeError } from "../tensor_errors.ts";
import { assertClose, normals } from "../_testing.ts";

const engine = await Engine.create();

Deno.test("dropPath() applies the seeded per-sample mask scaled by 1/keep, forward and backward", async () => {
  // 70 samples: more than one dispatch of 56.
  const shape = [70, 3, 5];
  const n = 70 * 15;
  const xs = normals(n, 40), gs = normals(n, 41);
  const p = 0.3;
  const rng = new Rng(99, 5);
  await engine.scope(async () => {
    const x = engine.tensor(xs, shape, { requiresGrad: true });
    const y = dropPath(x, { p, rng });
    assert.equal(rng.stream, 6);
    y.backward(engine.tensor(gs, shape));
    const u = randomUniform(99, 5, 70);
    assertClose(await y.read(), dropPathRef(xs, 70, 1 - p, u), 1e-6, 1e-6, "y");
    assertClose(await x.grad!.read(), dropPathRef(gs, 70, 1 - p, u), 1e-6, 1e-6, "dx");
    const kept = [...dropPathScales(99, 5, 70, p)].filter((s) => s > 0).length;
    assert(kept > 0 && kept < 70, `kept ${kept}`);
  });
  // The keep rate is 1 - p (2000 samples: standard error ≈ 0.01).
  const scales = dropPathScales(7, 0, 2000, 0.2);
  const rate = scales.filter((s) => s > 0).length / 2000;
  assert(Math.abs(rate - 0.8) < 0.04, `keep rate ${rate}`);
  assert(scales.every((s) => s === 0 || Math.abs(s - 1.25) < 1e-6));
});

Deno.test("dropPath() is the identity with p = 0 or in eval mode, and rejects p outside [0, 1)", () => {
  engine.scope(() => {
    const x = engine.tensor([1, 2], [2, 1]);
    const rng = new Rng(1);
    assert.equal(dropPath(x, { p: 0, rng }), x);
    assert.equal(dropPath(x, { p: 0.5, rng, training: false }), x);
    assert.equal(rng.stream, 0);
    assert.throws(
      () => dropPath(x, { p: 1, rng }),
      (e: unknown) => e instanceof RangeError && /dropPath: p/.test(String(e)),
    );
  });
});

Deno.test("residualDropPath() is x + dropPath(branch) with the same mask, forward and both gradients (scalar and vec4 samples)", async () => {
  // 70 samples of 15 (scalar kernel, two dispatches) and 3 samples of 8 (vec4 kernel).
  for (const shape of [[70, 3, 5], [3, 2, 4]]) {
    const batch = shape[0], n = shape.reduce((a, b) => a * b);
    const xs = normals(n, 42), bs = normals(n, 43), gs = normals(n, 44);
    const p = 0.4;
    const rng = new Rng(17, 2);
    await engine.scope(async () => {
      const x = engine.tensor(xs, shape, { requiresGrad: true });
      const b = engine.tensor(bs, shape, { requiresGrad: true });
      const y = residualDropPath(x, b, { p, rng });
      assert.equal(rng.stream, 3);
      y.backward(engine.tensor(gs, shape));
      const u = randomUniform(17, 2, batch);
      const dropped = dropPathRef(bs, batch, 1 - p, u);
      const tag = `[${shape}]`;
      assertClose(await y.read(), dropped.map((v, i) => v + xs[i]), 1e-6, 1e-6, `${tag} y`);
      assertClose(await x.grad!.read(), Float32Array.from(gs), 1e-7, 1e-7, `${tag} dx`);
      assertClose(
        await b.grad!.read(),
        dropPathRef(gs, batch, 1 - p, u),
        1e-6,
        1e-6,
        `${tag} dbranch`,
      );
    });
  }
});

Deno.test("residualDropPath() is a plain sum with p = 0 or in eval mode, and names mismatched shapes", async () => {
  await engine.scope(async () => {
    const x = engine.tensor([1, 2], [2, 1]), b = engine.tensor([10, 20], [2, 1]);
    const rng = new Rng(1);
    assert.deepEqual([...await residualDropPath(x, b, { p: 0, rng }).read()], [11, 22]);
    assert.deepEqual([
      ...await residualDropPath(x, b, { p: 0.5, rng, training: false }).read(),
    ], [11, 22]);
    assert.equal(rng.stream, 0);
    assert.throws(
      () => residualDropPath(x, engine.zeros([1, 2]), { p: 0.5, rng }),
      (e: unknown) =>
        e instanceof ShapeError && /residualDropPath/.test(e.message) &&
        /\[2, 1\] and \[1, 2\]/.test(e.message),
    );
  });
});

Deno.test("dropPath tests release the engine", () => {
  engine.destroy();
});
