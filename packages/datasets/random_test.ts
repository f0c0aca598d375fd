import assert from "node:assert/strict";
import { hashKeys, Rng } from "./random.ts";
import { seededSplit } from "./split.ts";
import { DatasetOptionError } from "./errors.ts";

Deno.test("Rng.derive gives equal streams for equal keys and independent ones otherwise", () => {
  const a = Rng.derive(42, "augment", 3, 17), b = Rng.derive(42, "augment", 3, 17);
  for (let i = 0; i < 100; i++) assert.equal(a.nextUint32(), b.nextUint32());
  const firsts = new Set<number>();
  for (let e = 0; e < 50; e++) {
    for (let i = 0; i < 50; i++) firsts.add(Rng.derive(42, "augment", e, i).nextUint32());
  }
  assert.equal(firsts.size, 2500);
  assert.notEqual(hashKeys(1, "a", 2), hashKeys(1, "a", 3));
  assert.notEqual(hashKeys(1, 0.5), hashKeys(1, 0.25));
});

Deno.test("Rng draws have the right ranges and moments", () => {
  const rng = Rng.derive(7, "moments");
  let sum = 0, sumSq = 0, nsum = 0, nsq = 0;
  const counts = new Array(5).fill(0);
  const N = 20000;
  for (let i = 0; i < N; i++) {
    const u = rng.uniform();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    sumSq += u * u;
    const k = rng.int(-2, 3);
    assert.ok(Number.isInteger(k) && k >= -2 && k < 3);
    counts[k + 2]++;
    const z = rng.normal();
    nsum += z;
    nsq += z * z;
  }
  assert.ok(Math.abs(sum / N - 0.5) < 0.01);
  assert.ok(Math.abs(sumSq / N - 1 / 3) < 0.01);
  for (const c of counts) assert.ok(Math.abs(c / N - 0.2) < 0.015);
  assert.ok(Math.abs(nsum / N) < 0.03 && Math.abs(nsq / N - 1) < 0.05);
  const p = rng.permutation(50);
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
});

Deno.test("seededSplit() is seeded, disjoint, complete and rounds the validation count", () => {
  const a = seededSplit(2694, 0.3, 42);
  assert.equal(a.val.length, 808);
  assert.equal(a.train.length, 1886);
  assert.deepEqual(seededSplit(2694, 0.3, 42), a);
  assert.notDeepEqual(seededSplit(2694, 0.3, 43).val, a.val);
  assert.equal(new Set([...a.train, ...a.val]).size, 2694);
  assert.throws(
    () => seededSplit(10, 1, 0),
    (e) => e instanceof DatasetOptionError && e.option === "valFraction",
  );
});
