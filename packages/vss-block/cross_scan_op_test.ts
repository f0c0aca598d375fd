import assert from "node:assert/strict";
import { crossScan2dBackwardReference, crossScan2dReference } from "@vmunet/ssm-kernel";
import { Engine, mul, ShapeError, sum } from "@vmunet/tensor";
import { crossScan, ss2dScan, ss2dScanPlan } from "./mod.ts";
import { relL2, relMaxErr, seeded } from "./_test_util.ts";

const engine = await Engine.create();

/** Packs B and C `(B·L, 4, N)` into an x_dbl `(B·L, 4, R + 2N)` with dt rows `dt`. */
function pack(
  rows: number,
  R: number,
  N: number,
  dt: Float64Array,
  B: Float64Array,
  C: Float64Array,
) {
  const P = R + 2 * N;
  const out = new Float64Array(rows * 4 * P);
  for (let i = 0; i < rows * 4; i++) {
    for (let r = 0; r < R; r++) out[i * P + r] = dt[i * R + r];
    for (let n = 0; n < N; n++) {
      out[i * P + R + n] = B[i * N + n];
      out[i * P + R + N + n] = C[i * N + n];
    }
  }
  return out;
}

const [batch, H, W, Di, N, R] = [2, 3, 5, 8, 4, 3];
const rows = batch * H * W;
const u = seeded(rows * Di, 1);
const delta = seeded(rows * 4 * Di, 2, -3, 1);
const Bv = seeded(rows * 4 * N, 3), Cv = seeded(rows * 4 * N, 4);
const dtRows = seeded(rows * 4 * R, 5);
const A = seeded(4 * Di * N, 6, -2, -0.05);
const D = seeded(4 * Di, 7), bias = seeded(4 * Di, 8, -1, 0);
const dy = seeded(rows * Di, 9);
const xDblV = pack(rows, R, N, dtRows, Bv, Cv);
const ref = {
  batch,
  height: H,
  width: W,
  channels: Di,
  dState: N,
  u,
  delta,
  B: Bv,
  C: Cv,
  A,
  D,
  deltaBias: bias,
};

function unpackSlot(x: ArrayLike<number>, offset: number): Float64Array {
  const P = R + 2 * N;
  const out = new Float64Array(rows * 4 * N);
  for (let i = 0; i < rows * 4; i++) {
    for (let n = 0; n < N; n++) out[i * N + n] = x[i * P + offset + n];
  }
  return out;
}

Deno.test("the scan ops name the input whose shape does not fit", () => {
  const u0 = engine.zeros([1, 2, 2, 8]);
  assert.throws(
    () =>
      crossScan(
        u0,
        engine.zeros([1, 2, 2, 4, 8]),
        engine.zeros([1, 2, 2, 4, 9]),
        engine.zeros([32, 4]),
        engine.zeros([32]),
        engine.zeros([31]),
      ),
    (e: Error) => e instanceof ShapeError && /deltaBias must be \[32\], got \[31\]/.test(e.message),
  );
  assert.throws(
    () =>
      ss2dScan(
        u0,
        engine.zeros([1, 2, 2, 4, 9]),
        engine.zeros([4, 8, 2]),
        engine.zeros([32, 4]),
        engine.zeros([32]),
        engine.zeros([32]),
      ),
    (e: Error) => e instanceof ShapeError && /rank 2 differs from x_dbl's R = 1/.test(e.message),
  );
});

/** The numeric tests, on an engine with this adapter's kernels or the GPU ones. */
function numericTests(engine: Engine, kernels: string): void {
  Deno.test(`crossScan (given delta) matches the cross-scan reference, gradients of all six inputs included (${kernels} kernels)`, async () => {
    const ts = [
      engine.tensor(u, [batch, H, W, Di], { requiresGrad: true }),
      engine.tensor(delta, [batch, H, W, 4, Di], { requiresGrad: true }),
      engine.tensor(xDblV, [batch, H, W, 4, R + 2 * N], { requiresGrad: true }),
      engine.tensor(A, [4 * Di, N], { requiresGrad: true }),
      engine.tensor(D, [4 * Di], { requiresGrad: true }),
      engine.tensor(bias, [4 * Di], { requiresGrad: true }),
    ];
    const y = engine.scope(() => {
      const y = crossScan(ts[0], ts[1], ts[2], ts[3], ts[4], ts[5]);
      sum(mul(y, engine.tensor(dy, y.shape))).backward();
      return y;
    });
    assert(relMaxErr(await y.read(), crossScan2dReference(ref)) < 1e-5);
    const g = crossScan2dBackwardReference(ref, dy);
    const gx = await ts[2].grad!.read();
    const checks: [string, ArrayLike<number>, ArrayLike<number>][] = [
      ["du", await ts[0].grad!.read(), g.du],
      ["ddelta", await ts[1].grad!.read(), g.ddelta],
      ["dB", unpackSlot(gx, R), g.dB],
      ["dC", unpackSlot(gx, R + N), g.dC],
      ["dA", await ts[3].grad!.read(), g.dA],
      ["dD", await ts[4].grad!.read(), g.dD],
      ["dbias", await ts[5].grad!.read(), g.dDeltaBias],
    ];
    for (const [name, got, want] of checks) assert(relL2(got, want) < 1e-4, `${name}`);
    // The dt rows of x_dbl get no gradient from the scan.
    for (let i = 0; i < rows * 4; i++) {
      for (let r = 0; r < R; r++) assert.equal(gx[i * (R + 2 * N) + r], 0);
    }
  });

  Deno.test(`ss2dScan projects dt from x_dbl's dt rows and back-propagates into them and the weight (${kernels} kernels)`, async () => {
    const wv = seeded(4 * Di * R, 10);
    // delta[p, k, d] = Σ_r W[k, d, r]·dt[p, k, r]
    const deltaRef = new Float64Array(rows * 4 * Di);
    for (let p = 0; p < rows; p++) {
      for (let k = 0; k < 4; k++) {
        for (let d = 0; d < Di; d++) {
          let s = 0;
          for (let r = 0; r < R; r++) s += wv[(k * Di + d) * R + r] * dtRows[(p * 4 + k) * R + r];
          deltaRef[(p * 4 + k) * Di + d] = s;
        }
      }
    }
    const x = engine.tensor(xDblV, [batch, H, W, 4, R + 2 * N], { requiresGrad: true });
    const w = engine.tensor(wv, [4, Di, R], { requiresGrad: true });
    const y = engine.scope(() => {
      const y = ss2dScan(
        engine.tensor(u, [batch, H, W, Di]),
        x,
        w,
        engine.tensor(A, [4 * Di, N]),
        engine.tensor(D, [4 * Di]),
        engine.tensor(bias, [4 * Di]),
      );
      sum(mul(y, engine.tensor(dy, y.shape))).backward();
      return y;
    });
    const r2 = { ...ref, delta: deltaRef };
    assert(relMaxErr(await y.read(), crossScan2dReference(r2)) < 1e-5);
    const g = crossScan2dBackwardReference(r2, dy);
    const dW = new Float64Array(4 * Di * R), dDt = new Float64Array(rows * 4 * R);
    for (let p = 0; p < rows; p++) {
      for (let k = 0; k < 4; k++) {
        for (let d = 0; d < Di; d++) {
          const gd = g.ddelta[(p * 4 + k) * Di + d];
          for (let r = 0; r < R; r++) {
            dW[(k * Di + d) * R + r] += gd * dtRows[(p * 4 + k) * R + r];
            dDt[(p * 4 + k) * R + r] += gd * wv[(k * Di + d) * R + r];
          }
        }
      }
    }
    const gx = await x.grad!.read();
    const P = R + 2 * N;
    const gotDt = new Float64Array(rows * 4 * R);
    for (let i = 0; i < rows * 4; i++) for (let r = 0; r < R; r++) gotDt[i * R + r] = gx[i * P + r];
    assert(relL2(gotDt, dDt) < 1e-4, "d dt rows");
    assert(relL2(unpackSlot(gx, R), g.dB) < 1e-4, "dB");
    assert(relL2(unpackSlot(gx, R + N), g.dC) < 1e-4, "dC");
    assert(relL2(await w.grad!.read(), dW) < 1e-4, "d dt_projs_weight");
  });

  Deno.test(`ss2dScan and crossScan without gradients (no checkpoints; ss2dScan projects delta in the scan) give the same output (${kernels} kernels)`, async () => {
    const wv = seeded(4 * Di * R, 10);
    const run = (grad: boolean) =>
      engine.scope(() => {
        const t = (v: ArrayLike<number>, shape: number[]) =>
          engine.tensor(v, shape, { requiresGrad: grad });
        const a = ss2dScan(
          t(u, [batch, H, W, Di]),
          t(xDblV, [batch, H, W, 4, R + 2 * N]),
          t(wv, [4, Di, R]),
          t(A, [4 * Di, N]),
          t(D, [4 * Di]),
          t(bias, [4 * Di]),
        );
        const b = crossScan(
          t(u, [batch, H, W, Di]),
          t(delta, [batch, H, W, 4, Di]),
          t(xDblV, [batch, H, W, 4, R + 2 * N]),
          t(A, [4 * Di, N]),
          t(D, [4 * Di]),
          t(bias, [4 * Di]),
        );
        return [engine.keep(a), engine.keep(b)];
      });
    const [a1, b1] = run(true), [a0, b0] = run(false);
    assert(a1.requiresGrad && !a0.requiresGrad);
    // Without the tape ss2dScan projects delta inside the scan (its own summation order).
    assert(relMaxErr(await a0.read(), await a1.read()) < 1e-5);
    assert.deepEqual(await b0.read(), await b1.read());
    assert(relMaxErr(await b0.read(), crossScan2dReference(ref)) < 1e-5);
  });
}

numericTests(engine, "this adapter's");
numericTests(await Engine.create(undefined, { adapterClass: "gpu" }), "GPU");

Deno.test("ss2dScanPlan: at the stage-1 shape and batch 1 every GPU launch of ss2dScan (the dt projection included) has ≥ 100,000 invocations", () => {
  const s = { batch: 1, height: 64, width: 64, channels: 192, dState: 16, dtRank: 6 };
  const gpu = ss2dScanPlan(s, false);
  for (const p of gpu) {
    assert(p.invocations >= 100_000, `${p.pass} ${p.kernel}: ${p.invocations}`);
    assert(p.storageBuffers <= 9, `${p.pass} ${p.kernel}: ${p.storageBuffers} storage buffers`);
  }
  // Δ comes from the dt projection in the forward and the GPU inference; the CPU choice's
  // inference projects it inside the scan.
  const delta = (plan: typeof gpu) =>
    plan.filter((p) => p.kernel.startsWith("Δ")).map((p) => p.pass);
  assert.deepEqual(delta(gpu), ["forward", "inference"]);
  const cpu = ss2dScanPlan(s, true);
  assert.deepEqual(delta(cpu), ["forward"]);
  assert(cpu.some((p) => p.pass === "inference" && p.kernel === "forward with the dt projection"));
});
