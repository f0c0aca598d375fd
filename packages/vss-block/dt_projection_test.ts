import assert from "node:assert/strict";
import { Engine, permute } from "@vmunet/tensor";
import {
  dtProjectionBackwardInput,
  dtProjectionBackwardWeight,
  dtProjectionForward,
  dtRowsPerInvocation,
} from "./_dt_projection.ts";
import { relMaxErr, seeded } from "./_test_util.ts";

const engine = await Engine.create();

// [positions, Di, R, N]: several weight-gradient chunks with R not a multiple of 4 and a
// partial last position block; one chunk with R a multiple of 4; R = 10 and 1 (input-gradient
// blocks of 6 with clamped rows, and of 4).
const CASES = [[600, 12, 5, 3], [7, 8, 8, 2], [257, 4, 1, 1], [33, 8, 10, 2]];

Deno.test("the dt projection kernels match float64 loops: delta, ∂x_dbl dt rows, ∂dt_projs_weight", async () => {
  for (const [rows, di, r, n] of CASES) {
    const p = r + 2 * n;
    const x = seeded(rows * 4 * p, 1);
    const w = seeded(4 * di * r, 2); // (4, Di, R)
    const g = seeded(rows * 4 * di, 3);
    const delta = new Float64Array(rows * 4 * di);
    const dx = new Float64Array(rows * 4 * r);
    const dw = new Float64Array(4 * di * r);
    for (let q = 0; q < rows; q++) {
      for (let k = 0; k < 4; k++) {
        for (let d = 0; d < di; d++) {
          let s = 0;
          const gd = g[(q * 4 + k) * di + d];
          for (let j = 0; j < r; j++) {
            const xv = x[(q * 4 + k) * p + j], wv = w[(k * di + d) * r + j];
            s += wv * xv;
            dx[(q * 4 + k) * r + j] += gd * wv;
            dw[(k * di + d) * r + j] += gd * xv;
          }
          delta[(q * 4 + k) * di + d] = s;
        }
      }
    }
    await engine.scope(async () => {
      const sizes = { rows, channels: di, dtRank: r, record: p };
      const xt = engine.tensor(x, [rows, 4, p]);
      const wT = permute(engine.tensor(w, [4, di, r]), [0, 2, 1]);
      const gt = engine.tensor(g, [rows, 4, di]);
      const tag = `rows ${rows}, Di ${di}, R ${r}`;
      // Both register blocks: 4 positions per invocation (CPU adapters) and 1 (GPUs).
      for (const positions of [4, 1] as const) {
        const got = dtProjectionForward(engine, xt, wT, sizes, [rows, 4, di], positions);
        assert(relMaxErr(await got.read(), delta) < 1e-5, `${tag}: delta (${positions} positions)`);
      }
      const dxt = engine.tensor(new Float32Array(rows * 4 * p).fill(7), [rows, 4, p]);
      dtProjectionBackwardInput(engine, gt, wT, dxt, sizes);
      const gotDx = await dxt.read();
      const dtRows = new Float64Array(rows * 4 * r);
      for (let i = 0; i < rows * 4; i++) {
        for (let j = 0; j < p; j++) {
          if (j < r) dtRows[i * r + j] = gotDx[i * p + j];
          else assert.equal(gotDx[i * p + j], 7, `${tag}: B/C rows of ∂x_dbl left as they are`);
        }
      }
      assert(relMaxErr(dtRows, dx) < 1e-5, `${tag}: ∂x_dbl dt rows`);
      const gotDw = dtProjectionBackwardWeight(engine, gt, xt, sizes);
      assert.deepEqual(gotDw.shape, [4, di, r]);
      assert(relMaxErr(await gotDw.read(), dw) < 1e-5, `${tag}: ∂dt_projs_weight`);
    });
  }
});

Deno.test("the input-gradient kernel takes 8, 6 or 4 dt rows, wasting the fewest on R", () => {
  const got = [1, 5, 6, 10, 12, 24, 48].map(dtRowsPerInvocation);
  assert.deepEqual(got, [4, 6, 6, 6, 6, 8, 8]);
});

Deno.test("dt projection tests release the engine", () => {
  engine.destroy();
});
