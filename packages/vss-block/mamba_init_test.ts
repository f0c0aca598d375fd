import assert from "node:assert/strict";
import { moments } from "../../tools/testing.ts";
import { Rng } from "@vmunet/tensor";
import { initALogs, initDs, initDtProjsBias, initDtProjsWeight } from "./mamba_init.ts";

Deno.test("SS2D inits: softplus(dt bias) is log-uniform in [1e-3, 1e-1], A_logs = ln(n+1), Ds = 1", () => {
  const bias = initDtProjsBias([4, 192], new Rng(9));
  const logDt: number[] = [];
  for (const b of bias) {
    const dt = Math.log1p(Math.exp(b));
    assert(dt >= 1e-3 * (1 - 1e-5) && dt <= 0.1 * (1 + 1e-5), `dt ${dt}`);
    logDt.push(Math.log(dt));
  }
  const lm = moments(logDt);
  const mid = (Math.log(1e-3) + Math.log(0.1)) / 2;
  const span = Math.log(0.1) - Math.log(1e-3);
  assert(Math.abs(lm.mean - mid) < 0.15 * span / Math.sqrt(12), `log dt mean ${lm.mean}`);
  assert(Math.abs(lm.std - span / Math.sqrt(12)) < 0.1 * span / Math.sqrt(12));
  // The floor clamps dt: with dtMin below it every dt is at least 1e-4.
  const floored = initDtProjsBias(500, new Rng(10), { dtMin: 1e-6, dtMax: 1e-3 });
  assert(floored.every((b) => Math.log1p(Math.exp(b)) >= 1e-4 * (1 - 1e-4)));
  const a = initALogs(3, 16);
  assert.equal(a.length, 48);
  assert.equal(a[16 + 0], 0);
  assert(Math.abs(a[2 * 16 + 15] - Math.log(16)) < 1e-6);
  assert(initDs(7).every((v) => v === 1));
  const w = initDtProjsWeight([4, 192, 6], new Rng(11));
  const wm = moments(w);
  assert(wm.max <= 6 ** -0.5 && wm.min >= -(6 ** -0.5) && wm.max > 0.95 * 6 ** -0.5);
});
