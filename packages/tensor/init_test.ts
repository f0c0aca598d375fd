import assert from "node:assert/strict";
import { moments } from "../../tools/testing.ts";
import {
  erf,
  erfinv,
  fanIn,
  initFanInUniform,
  initKaimingUniform,
  initOnes,
  initTruncNormal,
  initUniform,
  initZeros,
  normalCdf,
} from "./init.ts";
import { Rng } from "./rng.ts";

Deno.test("erf() and erfinv() match reference values and invert each other", () => {
  // erf values from tables (Abramowitz & Stegun 7.1, 10+ digits).
  assert(Math.abs(erf(0.5) - 0.5204998778130465) < 1e-15);
  assert(Math.abs(erf(1) - 0.8427007929497149) < 1e-15);
  assert(Math.abs(erf(2) - 0.9953222650189527) < 1e-15);
  assert(Math.abs(erf(-3) + 0.9999779095030014) < 1e-15);
  assert(Math.abs(normalCdf(1.959963984540054) - 0.975) < 1e-14);
  for (const y of [-0.999, -0.7, -0.1, 0, 0.3, 0.9, 0.99999]) {
    assert(Math.abs(erf(erfinv(y)) - y) < 1e-13, `erf(erfinv(${y}))`);
  }
  assert.equal(erfinv(1), Infinity);
});

Deno.test("initTruncNormal() has the moments of the truncated normal and respects the bounds", () => {
  const n = 100_000;
  // std 0.02 within ±2: effectively N(0, 0.02²), as VM-UNet's Linear init.
  const w = moments(initTruncNormal(n, new Rng(1), { std: 0.02 }));
  assert(Math.abs(w.mean) < 3e-4, `mean ${w.mean}`);
  assert(Math.abs(w.std - 0.02) < 4e-4, `std ${w.std}`);
  // mean 0.5, std 1, bounds [-1, 2]: alpha = -1.5, beta = 1.5 (symmetric about the mean).
  const x = initTruncNormal([250, 400], new Rng(2), { mean: 0.5, std: 1, a: -1, b: 2 });
  const m = moments(x);
  const phi = (t: number) => Math.exp(-t * t / 2) / Math.sqrt(2 * Math.PI);
  const z = normalCdf(1.5) - normalCdf(-1.5);
  const variance = 1 - (1.5 * phi(1.5) - -1.5 * phi(-1.5)) / z;
  assert(m.min >= -1 && m.max <= 2, `bounds ${m.min} ${m.max}`);
  assert(Math.abs(m.mean - 0.5) < 0.012, `mean ${m.mean}`);
  assert(Math.abs(m.std - Math.sqrt(variance)) < 0.01, `std ${m.std} vs ${Math.sqrt(variance)}`);
  // One-sided truncation [0, 2] of N(0,1): mean = (φ(0) - φ(2)) / (Φ(2) - 1/2).
  const h = moments(initTruncNormal(n, new Rng(3), { a: 0, b: 2 }));
  const hMean = (phi(0) - phi(2)) / (normalCdf(2) - 0.5);
  assert(h.min >= 0 && h.max <= 2);
  assert(Math.abs(h.mean - hMean) < 0.01, `half mean ${h.mean} vs ${hMean}`);
  assert.throws(
    () => initTruncNormal(3, new Rng(0), { std: 0 }),
    (e: unknown) => e instanceof RangeError && /initTruncNormal/.test(String(e)),
  );
});

Deno.test("initKaimingUniform() uses PyTorch's bound 1/sqrt(fan_in) for a = sqrt(5)", () => {
  const shape = [64, 3, 4, 4];
  assert.equal(fanIn(shape), 48);
  const w = initKaimingUniform(shape, new Rng(5));
  const m = moments(w);
  const bound = 1 / Math.sqrt(48);
  assert(m.min >= -bound && m.max <= bound);
  assert(m.max > 0.98 * bound && m.min < -0.98 * bound, `spread ${m.min} ${m.max}`);
  assert(Math.abs(m.std - bound / Math.sqrt(3)) < 0.01 * bound, `std ${m.std}`);
  // a = 0 (He uniform): bound sqrt(6 / fan_in).
  const he = moments(initKaimingUniform([200, 50], new Rng(6), 0));
  assert(he.max <= Math.sqrt(6 / 50) && he.max > 0.98 * Math.sqrt(6 / 50));
  const bias = initFanInUniform([10, 24, 1, 1], new Rng(7));
  assert.equal(bias.length, 10);
  assert(bias.every((v) => Math.abs(v) <= 1 / Math.sqrt(24)));
  assert.throws(
    () => fanIn([5]),
    (e: unknown) => e instanceof RangeError && /\[5\]/.test(String(e)),
  );
  const u = moments(initUniform(50_000, new Rng(8), -3, 1));
  assert(Math.abs(u.mean + 1) < 0.03 && u.min >= -3 && u.max < 1);
  assert(initZeros([2, 3]).every((v) => v === 0) && initZeros([2, 3]).length === 6);
  assert(initOnes(4).every((v) => v === 1));
});
