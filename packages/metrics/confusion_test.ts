import assert from "node:assert/strict";
import {
  BinaryConfusion,
  binaryMetricsFromCounts,
  imageDiceIou,
  InvalidOptionError,
  InvalidValueError,
  ShapeMismatchError,
} from "./mod.ts";

Deno.test("BinaryConfusion counts pred >= 0.5 and gt >= 0.5 and gives the official ratios", () => {
  // pred: 0.5 counts as foreground (>=), 0.4999 does not; gt is binarised the same way.
  const prob = new Float32Array([0.5, 0.4999, 0.9, 0.1, 0.7, 0.2, 1, 0]);
  const gt = new Float32Array([1, 1, 0.5, 0.49, 0, 0, 1, 0]);
  const m = new BinaryConfusion().update(prob, gt).metrics();
  // pairs: (1,1) tp, (0,1) fn, (1,1) tp, (0,0) tn, (1,0) fp, (0,0) tn, (1,1) tp, (0,0) tn
  assert.deepEqual([m.tp, m.tn, m.fp, m.fn], [3, 3, 1, 1]);
  assert.equal(m.miou, 3 / 5);
  assert.equal(m.dsc, 6 / 8);
  assert.equal(m.accuracy, 6 / 8);
  assert.equal(m.sensitivity, 3 / 4);
  assert.equal(m.specificity, 3 / 4);
});

Deno.test("BinaryConfusion pools over images: streaming equals one concatenated update", () => {
  const a = [0.9, 0.1, 0.6, 0.3, 0.8];
  const ga = [1, 0, 0, 1, 1];
  const b = [0.2, 0.7, 0.55];
  const gb = [0, 1, 1];
  const streamed = new BinaryConfusion().update(a, ga).update(b, gb);
  const once = new BinaryConfusion().update([...a, ...b], [...ga, ...gb]);
  assert.deepEqual(streamed.metrics(), once.metrics());
  assert.equal(streamed.images, 2);
  // Pooled, not a mean of per-image scores: image a has dsc 4/6, image b 1.
  assert.equal(streamed.metrics().dsc, 2 * 4 / (2 * 4 + 1 + 1));
});

Deno.test("binaryMetricsFromCounts gives 0 for every ratio whose denominator is 0", () => {
  const empty = binaryMetricsFromCounts({ tp: 0, tn: 0, fp: 0, fn: 0 });
  assert.deepEqual(
    [empty.miou, empty.dsc, empty.accuracy, empty.sensitivity, empty.specificity],
    [0, 0, 0, 0, 0],
  );
  const allBackground = binaryMetricsFromCounts({ tp: 0, tn: 10, fp: 0, fn: 0 });
  assert.deepEqual(
    [allBackground.miou, allBackground.dsc, allBackground.sensitivity],
    [0, 0, 0],
  );
  assert.equal(allBackground.accuracy, 1);
  assert.equal(allBackground.specificity, 1);
  const allForeground = binaryMetricsFromCounts({ tp: 4, tn: 0, fp: 0, fn: 0 });
  assert.equal(allForeground.specificity, 0);
  assert.equal(allForeground.miou, 1);
});

Deno.test("binaryMetricsFromCounts stays exact with counts beyond 2^32", () => {
  const tp = 2 ** 33 + 1;
  const fp = 2 ** 32 + 3;
  const fn = 7;
  const tn = 2 ** 40 + 5;
  const m = binaryMetricsFromCounts({ tp, tn, fp, fn });
  assert.equal(m.tp + m.fp, 2 ** 33 + 2 ** 32 + 4); // exact integer sum
  assert.equal(m.miou, tp / (tp + fp + fn));
  assert.equal(m.accuracy, (tn + tp) / (tp + tn + fp + fn));
});

Deno.test("BinaryConfusion rejects NaN probabilities naming the index, and counts nothing", () => {
  const acc = new BinaryConfusion();
  acc.update([0.9], [1]);
  assert.throws(
    () => acc.update([0.2, 0.7, 0.1, NaN], [0, 1, 0, 0], "ISIC_0001"),
    (e: Error) =>
      e instanceof InvalidValueError &&
      e.message === "ISIC_0001: prediction is NaN at flat index 3",
  );
  assert.throws(
    () => acc.update([0.2, 0.7], [0, NaN]),
    (e: Error) =>
      e instanceof InvalidValueError && /ground truth is NaN at flat index 1/.test(e.message),
  );
  assert.throws(
    () => acc.update([0.9, 0.7], [NaN, 1]),
    (e: Error) =>
      e instanceof InvalidValueError && /ground truth is NaN at flat index 0/.test(e.message),
  );
  assert.deepEqual(acc.counts, { tp: 1, tn: 0, fp: 0, fn: 0 });
});

Deno.test("BinaryConfusion rejects mismatched lengths and bad thresholds", () => {
  assert.throws(
    () => new BinaryConfusion().update(new Float32Array(4), new Float32Array(5)),
    (e: Error) =>
      e instanceof ShapeMismatchError &&
      e.message === "image 0: prediction has 4 values but ground truth has 5",
  );
  assert.throws(
    () => new BinaryConfusion({ threshold: NaN }),
    (e: Error) => e instanceof InvalidOptionError && /threshold/.test(e.message),
  );
});

Deno.test("BinaryConfusion honours another threshold and reset() forgets everything", () => {
  const acc = new BinaryConfusion({ threshold: 0.8 });
  acc.update([0.7, 0.9], [0.9, 0.9]);
  assert.deepEqual(acc.counts, { tp: 1, tn: 0, fp: 0, fn: 1 });
  acc.reset();
  assert.deepEqual(acc.counts, { tp: 0, tn: 0, fp: 0, fn: 0 });
  assert.equal(acc.images, 0);
});

Deno.test("imageDiceIou scores one image, with emptyScore for an empty pair", () => {
  const s = imageDiceIou([0.9, 0.8, 0.6, 0.1, 0.3], [1, 0, 1, 1, 0]);
  assert.deepEqual([s.tp, s.fp, s.fn, s.tn], [2, 1, 1, 1]);
  assert.equal(s.dice, 4 / 6);
  assert.equal(s.iou, 2 / 4);
  assert.deepEqual([imageDiceIou([0.1], [0]).dice, imageDiceIou([0.1], [0]).iou], [1, 1]);
  assert.equal(imageDiceIou([0.1], [0], { emptyScore: 0 }).dice, 0);
  assert.throws(() => imageDiceIou([NaN], [0]), InvalidValueError);
});
