import assert from "node:assert/strict";
import {
  binaryCaseMetrics,
  diceCoefficient,
  InvalidLabelError,
  InvalidOptionError,
  InvalidValueError,
  perClassMetrics,
  ShapeMismatchError,
  surfaceDistanceMetrics,
} from "./mod.ts";
import { rng } from "./testdata/brute_force.ts";

function randomLabels(shape: number[], classes: number, random: () => number): Int32Array {
  const [d, h, w] = shape;
  const out = new Int32Array(d * h * w);
  // A few labelled boxes over background, overlapping, so each class has a shape.
  for (let k = 0; k < 2 * classes; k++) {
    const label = 1 + Math.floor(random() * (classes - 1));
    const z0 = Math.floor(random() * d),
      y0 = Math.floor(random() * h),
      x0 = Math.floor(random() * w);
    const z1 = Math.min(d, z0 + 1 + Math.floor(random() * 4));
    const y1 = Math.min(h, y0 + 1 + Math.floor(random() * 6));
    const x1 = Math.min(w, x0 + 1 + Math.floor(random() * 6));
    for (let z = z0; z < z1; z++) {
      for (let y = y0; y < y1; y++) out.fill(label, (z * h + y) * w + x0, (z * h + y) * w + x1);
    }
  }
  return out;
}

Deno.test("perClassMetrics applies the official empty-case rules", () => {
  const shape = [2, 3, 3];
  // class 1 in both; class 2 only predicted; class 3 only in truth; class 4 in neither.
  const pred = new Int32Array(18);
  const gt = new Int32Array(18);
  pred.fill(1, 0, 4);
  gt.fill(1, 1, 5);
  pred[10] = 2;
  gt[15] = 3;
  const [c1, c2, c3, c4] = perClassMetrics({ data: pred, shape }, { data: gt, shape }, {
    classes: 5,
  });
  assert.equal(c1.emptyCase, "computed");
  assert.equal(c1.dice, 2 * 3 / 8);
  assert.deepEqual([c2.dice, c2.hd95, c2.hausdorff, c2.asd, c2.assd, c2.emptyCase], [
    1,
    0,
    0,
    0,
    0,
    "truth-empty",
  ]);
  assert.deepEqual([c3.dice, c3.hd95, c3.emptyCase], [0, 0, "prediction-empty"]);
  assert.deepEqual([c4.dice, c4.hd95, c4.emptyCase], [0, 0, "both-empty"]);
  assert.deepEqual([c2.predVoxels, c2.gtVoxels, c3.predVoxels, c3.gtVoxels], [1, 0, 0, 1]);
});

Deno.test("perClassMetrics equals the binary metrics of each class mask", () => {
  const random = rng(5);
  for (let trial = 0; trial < 4; trial++) {
    const shape = [5 + trial, 9, 11];
    const classes = 4 + trial;
    const pred = randomLabels(shape, classes, random);
    const gt = randomLabels(shape, classes, random);
    const spacing = [2.5, 0.75, 0.75];
    const all = perClassMetrics({ data: pred, shape }, { data: gt, shape }, { classes, spacing });
    assert.equal(all.length, classes - 1);
    for (const m of all) {
      const p = pred.map((v) => (v === m.label ? 1 : 0));
      const g = gt.map((v) => (v === m.label ? 1 : 0));
      const binary = binaryCaseMetrics({ data: p, shape }, { data: g, shape }, { spacing });
      assert.deepEqual({ ...m, label: undefined }, { ...binary, label: undefined });
      if (m.emptyCase === "computed") {
        const s = surfaceDistanceMetrics({ data: p, shape }, { data: g, shape }, { spacing });
        assert.equal(m.hd95, s.hd95);
        assert.equal(m.dice, diceCoefficient(p, g));
      }
    }
  }
});

Deno.test("identical label volumes have Dice 1 and HD95 0 for every present class", () => {
  const random = rng(9);
  const shape = [6, 8, 10];
  const labels = randomLabels(shape, 6, random);
  for (
    const m of perClassMetrics({ data: labels, shape }, { data: labels, shape }, { classes: 6 })
  ) {
    if (m.predVoxels === 0) continue;
    assert.equal(m.dice, 1, `class ${m.label}`);
    assert.equal(m.hd95, 0);
    assert.equal(m.hausdorff, 0);
  }
});

Deno.test("perClassMetrics measures distances in voxel units unless a spacing is given", () => {
  const shape = [5, 1, 2];
  // class 1: predicted at z = 0, true at z = 4 (same (y, x)); a 2-voxel row each.
  const pred = new Int32Array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  const gt = new Int32Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
  assert.equal(
    perClassMetrics({ data: pred, shape }, { data: gt, shape }, { classes: 2 })[0].hd95,
    4,
  );
  assert.equal(
    perClassMetrics({ data: pred, shape }, { data: gt, shape }, {
      classes: 2,
      spacing: [3, 1, 1],
    })[0]
      .hd95,
    12,
  );
});

Deno.test("perClassMetrics rejects non-integer, negative and out-of-range labels, naming the voxel", () => {
  const shape = [1, 2, 3];
  const ok = new Float32Array([0, 1, 2, 0, 1, 2]);
  assert.throws(
    () =>
      perClassMetrics(
        { data: new Float32Array([0, 1, 2, 0, 1.5, 2]), shape },
        { data: ok, shape },
        { classes: 3 },
      ),
    (e: Error) =>
      e instanceof InvalidLabelError &&
      e.message ===
        "prediction has label 1.5 at flat index 4; expected an integer in 0..2 (classes = 3)",
  );
  assert.throws(
    () =>
      perClassMetrics({ data: ok, shape }, { data: new Float32Array([0, 1, -1, 0, 1, 2]), shape }, {
        classes: 3,
      }),
    (e: Error) =>
      e instanceof InvalidLabelError && /ground truth has label -1 at flat index 2/.test(e.message),
  );
  assert.throws(
    () =>
      perClassMetrics({ data: ok, shape }, { data: new Float32Array([0, 1, 2, 3, 1, 2]), shape }, {
        classes: 3,
      }),
    (e: Error) => e instanceof InvalidLabelError && /label 3 at flat index 3/.test(e.message),
  );
  assert.throws(
    () =>
      perClassMetrics(
        { data: new Float32Array([NaN, 1, 2, 0, 1, 2]), shape },
        { data: ok, shape },
        { classes: 3 },
      ),
    (e: Error) => e instanceof InvalidLabelError && /label NaN at flat index 0/.test(e.message),
  );
});

Deno.test("perClassMetrics can ignore out-of-range integer labels as the official loop does", () => {
  const shape = [1, 2, 4];
  const pred = new Int32Array([1, 1, 5, 0, 2, -3, 2, 0]);
  const gt = new Int32Array([1, 7, 0, 0, 2, 2, 2, 9]);
  const ignored = perClassMetrics({ data: pred, shape }, { data: gt, shape }, {
    classes: 3,
    outOfRangeLabels: "ignore",
  });
  // Same as with those voxels set to background.
  const clean = perClassMetrics(
    { data: pred.map((v) => (v >= 0 && v < 3 ? v : 0)), shape },
    { data: gt.map((v) => (v >= 0 && v < 3 ? v : 0)), shape },
    { classes: 3 },
  );
  assert.deepEqual(ignored, clean);
  assert.equal(ignored[0].dice, 2 / 3);
  assert.throws(
    () => perClassMetrics({ data: pred, shape }, { data: gt, shape }, { classes: 3 }),
    (e: Error) =>
      e instanceof InvalidLabelError && /ground truth has label 7 at flat index 1/.test(e.message),
  );
  assert.throws(
    () =>
      perClassMetrics({ data: new Float32Array([0, 2.5, 0, 0, 0, 0, 0, 0]), shape }, {
        data: gt,
        shape,
      }, {
        classes: 3,
        outOfRangeLabels: "ignore",
      }),
    (e: Error) => e instanceof InvalidLabelError && /label 2.5 at flat index 1/.test(e.message),
  );
});

Deno.test("perClassMetrics rejects shape mismatches and bad class counts", () => {
  const a = { data: new Int32Array(6), shape: [1, 2, 3] };
  assert.throws(
    () => perClassMetrics(a, { data: new Int32Array(6), shape: [1, 3, 2] }, { classes: 3 }),
    (e: Error) =>
      e instanceof ShapeMismatchError &&
      e.message === "prediction has shape [1, 2, 3] but ground truth has shape [1, 3, 2]",
  );
  assert.throws(
    () => perClassMetrics(a, a, { classes: 1 }),
    (e: Error) =>
      e instanceof InvalidOptionError && /classes must be an integer >= 2/.test(e.message),
  );
  assert.throws(
    () => binaryCaseMetrics({ data: [NaN, 1], shape: [2] }, { data: [1, 1], shape: [2] }),
    (e: Error) =>
      e instanceof InvalidValueError && /prediction is NaN at flat index 0/.test(e.message),
  );
  assert.throws(() => diceCoefficient([1, 0], [1]), ShapeMismatchError);
});

Deno.test("diceCoefficient is medpy's dc, 1 for two empty masks", () => {
  assert.equal(diceCoefficient([1, 1, 1, 0], [0, 1, 1, 1]), 4 / 6);
  assert.equal(diceCoefficient([0, 0], [0, 0]), 1);
  assert.equal(diceCoefficient([2, 0], [0, 7]), 0);
});
