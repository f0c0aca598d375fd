import assert from "node:assert/strict";
import { DatasetOptionError } from "./errors.ts";
import { generateSyntheticSample, SyntheticDataset } from "./synthetic.ts";
import type { Sample } from "./sample.ts";

/** Best pooled Dice of `value >= t` or `value < t` over all thresholds t. */
function bestThresholdDice(samples: Sample[], value: (s: Sample, p: number) => number): number {
  let best = 0;
  for (let t = 0; t <= 256; t += 1) {
    for (const above of [true, false]) {
      let tp = 0, fp = 0, fn = 0;
      for (const s of samples) {
        for (let p = 0; p < s.height * s.width; p++) {
          const v = value(s, p);
          const pred = above ? v >= t : v < t;
          const gt = s.mask[p] > 0;
          if (pred && gt) tp++;
          else if (pred) fp++;
          else if (gt) fn++;
        }
      }
      best = Math.max(best, (2 * tp) / (2 * tp + fp + fn));
    }
  }
  return best;
}

Deno.test("synthetic samples are identical for the same seed and differ for another seed", () => {
  const a = generateSyntheticSample(7, 3, 48);
  const b = generateSyntheticSample(7, 3, 48);
  const c = generateSyntheticSample(8, 3, 48);
  assert.deepEqual(a.image, b.image);
  assert.deepEqual(a.mask, b.mask);
  assert.notDeepEqual(a.image, c.image);
});

Deno.test("synthetic images are RGB in [0, 255] with exact binary masks of varied size", async () => {
  const ds = new SyntheticDataset({ count: 24, size: 64, seed: 42 });
  const fractions: number[] = [];
  for (let i = 0; i < ds.length; i++) {
    const s = await ds.get(i);
    assert.equal(s.channels, 3);
    assert.equal(s.image.length, 3 * 64 * 64);
    assert.equal(s.mask.length, 64 * 64);
    let lo = Infinity, hi = -Infinity;
    for (const v of s.image) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    assert.equal(lo, 0);
    assert.ok(Math.abs(hi - 255) < 1e-3);
    let fg = 0;
    for (const m of s.mask) {
      assert.ok(m === 0 || m === 1);
      fg += m;
    }
    fractions.push(fg / s.mask.length);
  }
  assert.ok(Math.min(...fractions) > 0.005, `smallest lesion ${Math.min(...fractions)}`);
  assert.ok(Math.max(...fractions) > 4 * Math.min(...fractions), "lesion sizes vary");
});

Deno.test("no single global threshold on a channel segments the synthetic lesions (Dice < 0.8)", () => {
  const samples = Array.from({ length: 24 }, (_, i) => generateSyntheticSample(42, i, 64));
  const plane = 64 * 64;
  for (let c = 0; c < 3; c++) {
    const dice = bestThresholdDice(samples, (s, p) => s.image[c * plane + p]);
    assert.ok(dice < 0.8, `channel ${c}: best threshold Dice ${dice}`);
  }
  const grey = bestThresholdDice(
    samples,
    (s, p) => (s.image[p] + s.image[plane + p] + s.image[2 * plane + p]) / 3,
  );
  assert.ok(grey < 0.8, `grey: best threshold Dice ${grey}`);
});

Deno.test("synthetic dataset supports 256×256 and rejects bad options and indices", async () => {
  const s = await new SyntheticDataset({ count: 1, size: 256 }).get(0);
  assert.equal(s.image.length, 3 * 256 * 256);
  assert.throws(
    () => new SyntheticDataset({ size: 4 }),
    (e) => e instanceof DatasetOptionError && /size/.test(e.message),
  );
  await assert.rejects(new SyntheticDataset({ count: 2 }).get(2), DatasetOptionError);
});
