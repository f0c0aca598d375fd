import assert from "node:assert/strict";
import {
  crossScan2dBackwardReference,
  crossScan2dReference,
  crossScanPosition,
  type ScanReferenceInputs,
  selectiveScanBackwardReference,
  selectiveScanReference,
  softplus,
} from "./reference.ts";
import { centralDifference } from "../../tools/testing.ts";
import { crossInputs, genericInputs, type InputRanges, randomArray } from "./_testing.ts";

/** Ranges of this file's inputs: Δ in [−2, 1), A in [−1.5, −0.2), bias in [−1, 0.5). */
const RANGES: Partial<InputRanges> = { delta: [-2, 1], A: [-1.5, -0.2], deltaBias: [-1, 0.5] };

function objective(x: ScanReferenceInputs, dout: ArrayLike<number>): number {
  const out = selectiveScanReference(x);
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * dout[i];
  return s;
}

Deno.test("selectiveScanReference() computes the closed form of a one-state scan", () => {
  // Δ = softplus(0) = ln 2, ā = exp(−ln 2) = 1/2, b̄ = ln 2: h = [ln2, 1.5 ln2, 1.75 ln2].
  const out = selectiveScanReference({
    batch: 1,
    groups: 1,
    channelsPerGroup: 1,
    length: 3,
    dState: 1,
    u: [1, 1, 1],
    delta: [0, 0, 0],
    A: [-1],
    B: [1, 1, 1],
    C: [1, 1, 1],
    D: [0.5],
    deltaBias: [0],
  });
  const l2 = Math.LN2;
  assert.deepEqual(
    [...out].map((v) => v.toFixed(12)),
    [l2 + 0.5, 1.5 * l2 + 0.5, 1.75 * l2 + 0.5].map((v) => v.toFixed(12)),
  );
  assert.equal(softplus(25), 25);
  assert(Math.abs(softplus(-30) - Math.exp(-30)) < 1e-20);
});

Deno.test("selectiveScanBackwardReference() agrees with central finite differences for every input", () => {
  const x = genericInputs(2, 2, 2, 6, 3, 11, RANGES);
  // One large delta crosses the softplus threshold (z > 20 uses the identity branch).
  (x.delta as Float64Array)[5] = 25;
  const dout = randomArray(2 * 4 * 6, 99);
  const g = selectiveScanBackwardReference(x, dout);
  const pairs: [keyof ScanReferenceInputs, Float64Array][] = [
    ["u", g.du],
    ["delta", g.ddelta],
    ["A", g.dA],
    ["B", g.dB],
    ["C", g.dC],
    ["D", g.dD],
    ["deltaBias", g.dDeltaBias],
  ];
  const eps = 1e-6;
  for (const [name, grad] of pairs) {
    const arr = x[name] as Float64Array;
    let worst = 0;
    for (let i = 0; i < arr.length; i++) {
      const fd = centralDifference(arr, i, eps, () => objective(x, dout));
      worst = Math.max(worst, Math.abs(fd - grad[i]) / Math.max(1, Math.abs(fd)));
    }
    assert(worst < 1e-7, `${name}: finite-difference mismatch ${worst}`);
  }
});

Deno.test("crossScanPosition() maps the four directions as SS2D's flips and transposes", () => {
  const H = 2, W = 3;
  const seq = (k: number) => Array.from({ length: 6 }, (_, t) => crossScanPosition(k, t, H, W));
  assert.deepEqual(seq(0), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(seq(1), [0, 3, 1, 4, 2, 5]); // column-major: (h0,w0),(h1,w0),(h0,w1)…
  assert.deepEqual(seq(2), [5, 4, 3, 2, 1, 0]);
  assert.deepEqual(seq(3), [5, 2, 4, 1, 3, 0]);
});

Deno.test("crossScan2dBackwardReference() agrees with finite differences of crossScan2dReference()", () => {
  const batch = 1, H = 2, W = 3, Di = 2, N = 2, L = H * W;
  const x = crossInputs(batch, H, W, Di, N, 1, { ...RANGES, deltaBias: [-1, 1] });
  const dy = randomArray(batch * L * Di, 8);
  const g = crossScan2dBackwardReference(x, dy);
  const f = () => crossScan2dReference(x).reduce((s, v, i) => s + v * dy[i], 0);
  const eps = 1e-6;
  for (
    const [arr, grad, name] of [
      [x.u, g.du, "u"],
      [x.delta, g.ddelta, "delta"],
      [x.B, g.dB, "B"],
      [x.C, g.dC, "C"],
      [x.A, g.dA, "A"],
    ] as const
  ) {
    for (let i = 0; i < arr.length; i++) {
      const fd = centralDifference(arr, i, eps, f);
      assert(Math.abs(fd - grad[i]) < 1e-7 * Math.max(1, Math.abs(fd)), `${name}[${i}]`);
    }
  }
});
