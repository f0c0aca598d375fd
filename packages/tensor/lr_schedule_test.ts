import assert from "node:assert/strict";
import { cosineAnnealingClosedForm, CosineAnnealingLR } from "./lr_schedule.ts";

// torch 1.13 CosineAnnealingLR(SGD(lr=1e-3), T_max=50, eta_min=1e-5): lr after e steps.
const TORCH_T50: Record<number, number> = {
  0: 0.001,
  1: 0.0009990232305719944,
  2: 0.0009960967771506664,
  10: 0.0009054634122155987,
  25: 0.0005049999999999998,
  49: 1.0976769428005579e-05,
  50: 1e-05,
  51: 1.0976769428005579e-05,
  52: 1.3903222849333451e-05,
  75: 0.0005049999999999995,
  99: 0.0009990232305719935,
  100: 0.0009999999999999992,
  101: 0.0009990232305719935,
  102: 0.0009960967771506656,
  150: 1e-05,
  151: 1.0976769428005579e-05,
  200: 0.001,
  201: 0.0009990232305719946,
  250: 1e-05,
  251: 1.0976769428005579e-05,
  259: 8.705767687650243e-05,
};

// torch 1.13, lr=0.1, T_max=3, eta_min=0.001, 13 steps: the recursion drifts from the
// closed form in the last digits (e.g. 0.10000000000000006 at step 6).
const TORCH_T3 = [
  0.1,
  0.07525000000000001,
  0.025750000000000016,
  0.001,
  0.025749999999999995,
  0.07525000000000005,
  0.10000000000000006,
  0.07525000000000007,
  0.025750000000000054,
  0.001,
  0.025749999999999995,
  0.0752499999999999,
  0.09999999999999992,
  0.07524999999999994,
];

Deno.test("CosineAnnealingLR follows PyTorch's chained recursion, periodic past tMax", () => {
  const opt = { lr: 0 };
  const sched = new CosineAnnealingLR({ baseLr: 1e-3, tMax: 50, etaMin: 1e-5, optimizer: opt });
  assert.equal(opt.lr, 1e-3);
  for (let e = 0; e <= 259; e++) {
    if (e > 0) sched.step();
    assert.equal(sched.lastEpoch, e);
    assert.equal(opt.lr, sched.lr);
    const closed = cosineAnnealingClosedForm(1e-3, 50, 1e-5, e);
    assert(Math.abs(sched.lr - closed) < 1e-17, `step ${e}: ${sched.lr} vs closed ${closed}`);
    if (e in TORCH_T50) {
      // Same float64 operations as PyTorch; libm cos may differ by an ulp.
      assert(
        Math.abs(sched.lr - TORCH_T50[e]) <= 4e-19,
        `step ${e}: ${sched.lr} vs ${TORCH_T50[e]}`,
      );
    }
  }
  // docs/spec.md §8: epoch e (1-based) uses the lr after e-1 steps: minima at e = 51, 151, 251.
  assert.equal(TORCH_T50[50], 1e-5);
  const short = new CosineAnnealingLR({ baseLr: 0.1, tMax: 3, etaMin: 0.001 });
  const lrs = [short.lr];
  for (let e = 1; e < TORCH_T3.length; e++) lrs.push(short.step());
  for (let e = 0; e < lrs.length; e++) {
    assert(Math.abs(lrs[e] - TORCH_T3[e]) <= 2e-17, `T3 step ${e}: ${lrs[e]} vs ${TORCH_T3[e]}`);
  }
});

Deno.test("CosineAnnealingLR saves and restores its state and rejects a bad tMax", () => {
  const a = new CosineAnnealingLR({ baseLr: 0.5, tMax: 7, etaMin: 0.01 });
  for (let i = 0; i < 9; i++) a.step();
  const opt = { lr: 0 };
  const b = new CosineAnnealingLR({ baseLr: 0.5, tMax: 7, etaMin: 0.01, optimizer: opt });
  b.load(a.state());
  assert.equal(opt.lr, a.lr);
  assert.equal(b.step(), a.step());
  assert.equal(b.lastEpoch, 10);
  assert.throws(
    () => new CosineAnnealingLR({ baseLr: 1, tMax: 0 }),
    (e: unknown) => e instanceof RangeError && /tMax/.test(String(e)),
  );
});
