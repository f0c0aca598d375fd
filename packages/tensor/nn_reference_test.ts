import assert from "node:assert/strict";
import { centralDifference, readJson } from "../../tools/testing.ts";
import {
  conv1x1BackwardRef,
  conv1x1Ref,
  depthwiseConv3x3BackwardRef,
  depthwiseConv3x3Ref,
  layerNormBackwardRef,
  layerNormRef,
  patchifyConvBackwardRef,
  patchifyConvRef,
} from "./reference/nn_ops.ts";
import {
  bceDiceRef,
  bceRef,
  ceDiceRef,
  crossEntropyRef,
  diceRef,
  nDiceRef,
} from "./reference/nn_losses.ts";
import { randomNormal } from "./rng.ts";

const torchRef = await readJson(new URL("./testdata/nn_torch_reference.json", import.meta.url));

/** Max |a−b| / max(1, |b|). */
function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  }
  return m;
}

/**
 * Central finite differences of L(x) = Σ gy·f(x) with respect to every element of `x`.
 */
function finiteDiff(
  f: (x: Float64Array) => ArrayLike<number>,
  x: Float64Array,
  gy: ArrayLike<number>,
  h = 1e-6,
): Float64Array {
  const g = new Float64Array(x.length);
  const dot = (y: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * gy[i];
    return s;
  };
  for (let i = 0; i < x.length; i++) g[i] = centralDifference(x, i, h, () => dot(f(x)));
  return g;
}

Deno.test("layerNormBackwardRef() agrees with finite differences for x, weight and bias", () => {
  const c = 7, rows = 5, eps = 1e-5;
  const x = randomNormal(1, 0, rows * c), w = randomNormal(1, 1, c), b = randomNormal(1, 2, c);
  const gy = randomNormal(1, 3, rows * c);
  const g = layerNormBackwardRef(x, c, w, eps, gy);
  assert(maxRelErr(g.dx, finiteDiff((v) => layerNormRef(v, c, w, b, eps).y, x, gy)) < 1e-7);
  assert(maxRelErr(g.dw, finiteDiff((v) => layerNormRef(x, c, v, b, eps).y, w, gy)) < 1e-7);
  assert(maxRelErr(g.db, finiteDiff((v) => layerNormRef(x, c, w, v, eps).y, b, gy)) < 1e-7);
  // Rows have zero mean and unit variance before the affine map.
  const y = layerNormRef(x, c, new Float64Array(c).fill(1), new Float64Array(c), 0).y;
  let s = 0, s2 = 0;
  for (let j = 0; j < c; j++) {
    s += y[j];
    s2 += y[j] * y[j];
  }
  assert(Math.abs(s) < 1e-12 && Math.abs(s2 / c - 1) < 1e-12);
});

Deno.test("conv references' backward agrees with finite differences (odd sizes)", () => {
  // Depthwise 3x3 on (B,H,W,C) = (2,3,5,3).
  const ds = [2, 3, 5, 3];
  const dn = ds.reduce((a, b) => a * b);
  const x = randomNormal(2, 0, dn), w = randomNormal(2, 1, 27), bias = randomNormal(2, 2, 3);
  const gy = randomNormal(2, 3, dn);
  const dg = depthwiseConv3x3BackwardRef(x, ds, w, gy);
  assert(maxRelErr(dg.dx, finiteDiff((v) => depthwiseConv3x3Ref(v, ds, w, bias), x, gy)) < 1e-7);
  assert(maxRelErr(dg.dw, finiteDiff((v) => depthwiseConv3x3Ref(x, ds, v, bias), w, gy)) < 1e-7);
  assert(maxRelErr(dg.db, finiteDiff((v) => depthwiseConv3x3Ref(x, ds, w, v), bias, gy)) < 1e-7);
  // Hand check: centre tap only = identity times weight, plus bias.
  const centre = new Float64Array(27);
  for (let c = 0; c < 3; c++) centre[c * 9 + 4] = 2;
  const yc = depthwiseConv3x3Ref(x, ds, centre, [1, 1, 1]);
  assert(Math.abs(yc[17] - (2 * x[17] + 1)) < 1e-15);
  // Patchify k=2 on (B,Cin,H,W) = (2,3,5,4) (H=5 crops a row), Cout=4.
  const ps = [2, 3, 5, 4];
  const pn = ps.reduce((a, b) => a * b);
  const px = randomNormal(3, 0, pn), pw = randomNormal(3, 1, 4 * 3 * 4), pb = randomNormal(3, 2, 4);
  const pgy = randomNormal(3, 3, 2 * 2 * 2 * 4);
  const pg = patchifyConvBackwardRef(px, ps, pw, 4, 2, pgy);
  const pf = (xx: Float64Array, ww: ArrayLike<number>, bb: ArrayLike<number>) =>
    patchifyConvRef(xx, ps, ww, bb, 4, 2);
  assert(maxRelErr(pg.dx, finiteDiff((v) => pf(v, pw, pb), px, pgy)) < 1e-7);
  assert(maxRelErr(pg.dw, finiteDiff((v) => pf(px, v, pb), pw, pgy)) < 1e-7);
  assert(maxRelErr(pg.db, finiteDiff((v) => pf(px, pw, v), pb, pgy)) < 1e-7);
  // 1x1 conv (B,H,W,Cin) = (2,3,2,5) -> nc = 3 (NCHW).
  const cs = [2, 3, 2, 5];
  const cx = randomNormal(4, 0, 60), cw = randomNormal(4, 1, 15), cb = randomNormal(4, 2, 3);
  const cgy = randomNormal(4, 3, 36);
  const cg = conv1x1BackwardRef(cx, cs, cw, 3, cgy);
  assert(maxRelErr(cg.dx, finiteDiff((v) => conv1x1Ref(v, cs, cw, cb, 3), cx, cgy)) < 1e-7);
  assert(maxRelErr(cg.dw, finiteDiff((v) => conv1x1Ref(cx, cs, v, cb, 3), cw, cgy)) < 1e-7);
  assert(maxRelErr(cg.db, finiteDiff((v) => conv1x1Ref(cx, cs, cw, v, 3), cb, cgy)) < 1e-7);
});

Deno.test("loss references match PyTorch 1.13 float64 losses and gradients", () => {
  const { bce, dice, bcedice, ce, ndice, cedice } = torchRef;
  const B = bce.shape[0];
  const a = bceRef(bce.pred, bce.target);
  assert(Math.abs(a.loss - bce.loss) < 1e-12, `bce ${a.loss} vs ${bce.loss}`);
  // p = 0 with t = 1 hits the log clamp (-100) and the 1e-12 floor of the backward.
  assert(maxRelErr(a.grad, bce.grad) < 1e-12);
  assert(Math.abs(a.grad[0] + 1 / Math.fround(1e-12) / bce.pred.length) < 1e-3);
  const d = diceRef(bce.pred, bce.target, B);
  assert(Math.abs(d.loss - dice.loss) < 1e-12);
  assert(maxRelErr(d.grad, dice.grad) < 1e-12);
  const bd = bceDiceRef(bcedice.pred, bce.target, B, bcedice.wb, bcedice.wd);
  assert(Math.abs(bd.loss - bcedice.loss) < 1e-12);
  assert(maxRelErr(bd.grad, bcedice.grad) < 1e-12);
  const [b, nc] = ce.shape;
  const c = crossEntropyRef(ce.logits, ce.labels, b, nc);
  assert(Math.abs(c.loss - ce.loss) < 1e-12);
  assert(maxRelErr(c.grad, ce.grad) < 1e-12);
  const n = nDiceRef(ce.logits, ce.labels, b, nc);
  assert(Math.abs(n.loss - ndice.loss) < 1e-12);
  assert(maxRelErr(n.grad, ndice.grad) < 1e-12);
  const cd = ceDiceRef(ce.logits, ce.labels, b, nc, cedice.wce, cedice.wdice);
  assert(Math.abs(cd.loss - cedice.loss) < 1e-12);
  assert(maxRelErr(cd.grad, cedice.grad) < 1e-12);
});

Deno.test("loss references match hand-computed values", () => {
  // Dice of one sample p = [1, 0], t = [1, 0]: (2 + 1)/(1 + 1 + 1) = 1 -> loss 0.
  assert.equal(diceRef([1, 0], [1, 0], 1).loss, 0);
  // p = [0.5, 0.5], t = [1, 0]: (2·0.5 + 1)/(1 + 1 + 1) = 2/3 -> loss 1/3.
  assert(Math.abs(diceRef([0.5, 0.5], [1, 0], 1).loss - 1 / 3) < 1e-15);
  // BCE of p = 0.5 is ln 2 whatever the target.
  assert(Math.abs(bceRef([0.5, 0.5], [1, 0]).loss - Math.LN2) < 1e-15);
  // p = 0, t = 1: -max(ln 0, -100) = 100.
  assert.equal(bceRef([0], [1]).loss, 100);
  // CE with equal logits over 4 classes is ln 4.
  assert(Math.abs(crossEntropyRef([0, 0, 0, 0], [2], 1, 4).loss - Math.log(4)) < 1e-15);
  // nDice, 2 classes, one pixel of class 0, equal logits: s = [.5, .5]
  // class 0: (2·.5 + 1e-5)/(.25 + 1 + 1e-5); class 1: (1e-5)/(.25 + 1e-5).
  const e = 1e-5;
  const want = ((1 - (1 + e) / (1.25 + e)) + (1 - e / (0.25 + e))) / 2;
  assert(Math.abs(nDiceRef([0, 0], [0], 1, 2).loss - want) < 1e-15);
});

Deno.test("loss references' gradients agree with finite differences", () => {
  const B = 2, n = 10;
  const p = Float64Array.from(randomNormal(6, 0, B * n), (z) => 1 / (1 + Math.exp(-z)));
  const t = Float64Array.from(randomNormal(6, 1, B * n), (z) => (z > 0 ? 1 : 0));
  const one = [1];
  const bd = bceDiceRef(p, t, B, 0.7, 1.3);
  const fdBd = finiteDiff((v) => [bceDiceRef(v, t, B, 0.7, 1.3).loss], p, one, 1e-7);
  assert(maxRelErr(bd.grad, fdBd) < 1e-6, `bceDice ${maxRelErr(bd.grad, fdBd)}`);
  const nc = 3, P = 5;
  const z = randomNormal(6, 2, B * nc * P);
  const labels = Array.from({ length: B * P }, (_, i) => (i * 7) % nc);
  const cd = ceDiceRef(z, labels, B, nc, 0.4, 0.6);
  const fdCd = finiteDiff((v) => [ceDiceRef(v, labels, B, nc, 0.4, 0.6).loss], z, one, 1e-7);
  assert(maxRelErr(cd.grad, fdCd) < 1e-6, `ceDice ${maxRelErr(cd.grad, fdCd)}`);
});
