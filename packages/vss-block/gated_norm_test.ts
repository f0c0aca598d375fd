import assert from "node:assert/strict";
import { DtypeError, Engine, ShapeError } from "@vmunet/tensor";
import { gatedNorm, gatedNormConfig } from "./mod.ts";
import { centralDifference } from "../../tools/testing.ts";
import { relMaxErr, seeded } from "./_test_util.ts";

const engine = await Engine.create();
const EPS = 1e-5;

const silu = (v: number) => v / (1 + Math.exp(-v));

/** Float64 `LayerNorm(y)·silu(z)` and its gradients for upstream `g` (analytic). */
function reference(
  y: Float64Array,
  z: Float64Array,
  w: Float64Array,
  b: Float64Array,
  g: Float64Array,
) {
  const c = w.length, rows = y.length / c;
  const out = new Float64Array(y.length), dy = new Float64Array(y.length);
  const dz = new Float64Array(y.length), dw = new Float64Array(c), db = new Float64Array(c);
  for (let r = 0; r < rows; r++) {
    const o = r * c;
    let mean = 0, v = 0;
    for (let j = 0; j < c; j++) mean += y[o + j] / c;
    for (let j = 0; j < c; j++) v += (y[o + j] - mean) ** 2 / c;
    const rstd = 1 / Math.sqrt(v + EPS);
    let m1 = 0, m2 = 0;
    for (let j = 0; j < c; j++) {
      const xh = (y[o + j] - mean) * rstd, sig = 1 / (1 + Math.exp(-z[o + j]));
      out[o + j] = (xh * w[j] + b[j]) * silu(z[o + j]);
      dz[o + j] = g[o + j] * (xh * w[j] + b[j]) * sig * (1 + z[o + j] * (1 - sig));
      const dn = g[o + j] * silu(z[o + j]);
      dw[j] += dn * xh;
      db[j] += dn;
      m1 += dn * w[j] / c;
      m2 += dn * w[j] * xh / c;
    }
    for (let j = 0; j < c; j++) {
      const xh = (y[o + j] - mean) * rstd, dn = g[o + j] * silu(z[o + j]);
      dy[o + j] = rstd * (dn * w[j] - m1 - xh * m2);
    }
  }
  return { out, dy, dz, dw, db };
}

Deno.test("the analytic float64 reference agrees with central differences of the forward", () => {
  const [rows, c] = [3, 5];
  const y = seeded(rows * c, 1, -2, 2), z = seeded(rows * c, 2, -4, 4);
  const w = seeded(c, 3), b = seeded(c, 4), g = seeded(rows * c, 5);
  const ref = reference(y, z, w, b, g);
  const loss = () => {
    const o = reference(y, z, w, b, g).out;
    return o.reduce((s, v, i) => s + v * g[i], 0);
  };
  const h = 1e-6;
  for (const [arr, grad] of [[y, ref.dy], [z, ref.dz], [w, ref.dw], [b, ref.db]]) {
    const fd = arr.map((_, i) => centralDifference(arr, i, h, loss));
    assert(relMaxErr(grad, fd) < 1e-6, `reference gradient vs finite differences`);
  }
});

Deno.test("gatedNorm() matches LayerNorm·SiLU in float64, forward and all four gradients (both weight-gradient kernels, vec4 and odd widths, many row chunks)", async () => {
  const info = engine.gpu.adapterInfo;
  const eight = engine.gpu.subgroups && info.subgroupMinSize === 8 && info.subgroupMaxSize === 8;
  for (const variant of eight ? ["cluster", "column"] as const : ["column"] as const) {
    gatedNormConfig.variant = variant;
    await checkShapes(variant);
  }
  gatedNormConfig.variant = "auto";
});

async function checkShapes(variant: string): Promise<void> {
  // [shape]: vec4 rows over many chunks with a partial one; an odd width; a width wider
  // than one column workgroup; a single row.
  for (const shape of [[2, 37, 8], [5, 9, 7], [3, 300], [1, 6]]) {
    const c = shape[shape.length - 1], n = shape.reduce((a, v) => a * v);
    const yv = seeded(n, 11, -3, 5), zv = seeded(n, 12, -8, 8);
    const wv = seeded(c, 13), bv = seeded(c, 14), gv = seeded(n, 15);
    const ref = reference(yv, zv, wv, bv, gv);
    await engine.scope(async () => {
      const y = engine.tensor(yv, shape, { requiresGrad: true });
      const z = engine.tensor(zv, shape, { requiresGrad: true });
      const w = engine.tensor(wv, [c], { requiresGrad: true });
      const b = engine.tensor(bv, [c], { requiresGrad: true });
      const out = gatedNorm(y, z, w, b, EPS);
      out.backward(engine.tensor(gv, shape));
      const tag = `${variant} [${shape}]`;
      assert(relMaxErr(await out.read(), ref.out) < 1e-5, `${tag} forward`);
      assert(relMaxErr(await y.grad!.read(), ref.dy) < 1e-4, `${tag} ∂y`);
      assert(relMaxErr(await z.grad!.read(), ref.dz) < 1e-5, `${tag} ∂z`);
      assert(relMaxErr(await w.grad!.read(), ref.dw) < 1e-5, `${tag} ∂weight`);
      assert(relMaxErr(await b.grad!.read(), ref.db) < 1e-5, `${tag} ∂bias`);
    });
  }
}

Deno.test("gatedNorm() names the mismatched shapes and refuses i32", () => {
  engine.scope(() => {
    const y = engine.zeros([2, 4]), w = engine.zeros([4]);
    assert.throws(
      () => gatedNorm(y, engine.zeros([2, 3]), w, w),
      (e: unknown) =>
        e instanceof ShapeError && /gatedNorm/.test(e.message) && /z \[2, 3\]/.test(e.message),
    );
    assert.throws(
      () => gatedNorm(y, y, engine.zeros([3]), w),
      (e: unknown) => e instanceof ShapeError && /weight \[3\]/.test(e.message),
    );
    const yi = engine.tensor(new Int32Array(8), [2, 4], { dtype: "i32" });
    assert.throws(
      () => gatedNorm(yi, yi, w, w),
      (e: unknown) => e instanceof DtypeError && /y must be f32/.test(e.message),
    );
  });
});

Deno.test("gatedNorm tests release the engine", () => {
  engine.destroy();
});
