import assert from "node:assert/strict";
import { Engine } from "../engine.ts";
import { DtypeError, ShapeError } from "../tensor_errors.ts";
import { layerNormBackwardRef, layerNormRef } from "../reference/nn_ops.ts";
import { layerNorm, layerNormConfig } from "./layer_norm.ts";
import { assertClose, normals } from "../_testing.ts";

const engine = await Engine.create();

const VARIANTS = [
  { variant: "row", cacheRow: true, backward: "column" },
  { variant: "row", cacheRow: false, backward: "cluster" },
  { variant: "row", cacheRow: false, backward: "column" },
  { variant: "subgroup", cacheRow: true, backward: "column" },
] as const;

/** Whether the adapter has exactly 8-lane subgroups (the cluster backward needs them). */
const eightLanes = engine.gpu.subgroups && engine.gpu.adapterInfo.subgroupMinSize === 8 &&
  engine.gpu.adapterInfo.subgroupMaxSize === 8;

const CASES: [number[], number][] = [
  [[3, 5, 8], 1e-5],
  [[7, 13], 1e-6],
  [[600, 12], 1e-5],
  [[3, 300], 1e-5],
  [[2, 37, 7], 1e-5], // odd C over several row chunks, a partial last chunk
  [[9, 2, 260], 1e-5], // more lane groups than one workgroup holds, partial chunk
];

Deno.test("layerNorm() forward and backward match the float64 reference (every kernel variant, vec4 and odd C)", async () => {
  for (const cfg of VARIANTS) {
    if (cfg.variant === "subgroup" && !engine.gpu.subgroups) continue;
    if (cfg.backward === "cluster" && !eightLanes) continue;
    Object.assign(layerNormConfig, cfg);
    for (const [shape, eps] of CASES) {
      const n = shape.reduce((a, b) => a * b), c = shape[shape.length - 1];
      const xs = normals(n, 1, 2), ws = normals(c, 2), bs = normals(c, 3), gs = normals(n, 4);
      for (let i = 0; i < n; i++) xs[i] += 3; // a mean offset
      await engine.scope(async () => {
        const x = engine.tensor(xs, shape, { requiresGrad: true });
        const w = engine.tensor(ws, [c], { requiresGrad: true });
        const b = engine.tensor(bs, [c], { requiresGrad: true });
        const y = layerNorm(x, w, b, eps);
        y.backward(engine.tensor(gs, shape));
        const ref = layerNormRef(xs, c, ws, bs, eps);
        const g = layerNormBackwardRef(xs, c, ws, eps, gs);
        const tag = `${cfg.variant}/cache ${cfg.cacheRow}/${cfg.backward} shape [${shape}]`;
        assertClose(await y.read(), ref.y, 1e-5, 1e-5, `${tag} y`);
        assertClose(await x.grad!.read(), g.dx, 1e-4, 1e-4, `${tag} dx`);
        assertClose(await w.grad!.read(), g.dw, 1e-4, 1e-4, `${tag} dw`);
        assertClose(await b.grad!.read(), g.db, 1e-4, 1e-4, `${tag} db`);
      });
    }
  }
  Object.assign(layerNormConfig, { variant: "auto", cacheRow: false, backward: "auto" });
});

Deno.test("layerNorm() backward gives only the gradients asked for (x alone, weight and bias alone)", async () => {
  for (const [shape, eps] of [[[41, 12], 1e-5], [[5, 9], 1e-5]] as [number[], number][]) {
    const n = shape.reduce((a, b) => a * b), c = shape[shape.length - 1];
    const xs = normals(n, 5, 2), ws = normals(c, 6), bs = normals(c, 7), gs = normals(n, 8);
    const g = layerNormBackwardRef(xs, c, ws, eps, gs);
    for (const xGrad of [true, false]) {
      await engine.scope(async () => {
        const x = engine.tensor(xs, shape, { requiresGrad: xGrad });
        const w = engine.tensor(ws, [c], { requiresGrad: !xGrad });
        const b = engine.tensor(bs, [c], { requiresGrad: !xGrad });
        layerNorm(x, w, b, eps).backward(engine.tensor(gs, shape));
        const tag = `[${shape}] ${xGrad ? "x only" : "weight and bias only"}`;
        if (xGrad) {
          assertClose(await x.grad!.read(), g.dx, 1e-4, 1e-4, `${tag} dx`);
          assert.equal(w.grad, null);
        } else {
          assert.equal(x.grad, null);
          assertClose(await w.grad!.read(), g.dw, 1e-4, 1e-4, `${tag} dw`);
          assertClose(await b.grad!.read(), g.db, 1e-4, 1e-4, `${tag} db`);
        }
      });
    }
  }
});

Deno.test("layerNorm() rejects a weight of the wrong size and i32 input, naming the shapes", () => {
  engine.scope(() => {
    const x = engine.tensor(new Float32Array(12), [3, 4]);
    const w = engine.tensor(new Float32Array(3), [3]);
    assert.throws(
      () => layerNorm(x, w, w),
      (e: unknown) =>
        e instanceof ShapeError && /layerNorm/.test(String(e)) && /\[4\]/.test(String(e)) &&
        /\[3\]/.test(String(e)),
    );
    const xi = engine.tensor(new Int32Array(4), [1, 4], { dtype: "i32" });
    const w4 = engine.tensor(new Float32Array(4), [4]);
    assert.throws(
      () => layerNorm(xi, w4, w4),
      (e: unknown) => e instanceof DtypeError && /x must be f32/.test(String(e)),
    );
  });
});

Deno.test("layerNorm() tests release the engine", () => {
  engine.destroy();
});
