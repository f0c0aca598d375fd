import assert from "node:assert/strict";
import { readJson } from "../../tools/testing.ts";
import {
  averageSurfaceDistance,
  binarySurface,
  EmptyObjectError,
  euclideanDistanceTransform,
  hausdorffDistance,
  hd95,
  InvalidOptionError,
  InvalidValueError,
  percentile,
  ShapeMismatchError,
  surfaceDistanceMetrics,
  surfaceDistances,
  type Volume,
} from "./mod.ts";
import { bruteDistances, bruteSurface, randomMask, rng } from "./testdata/brute_force.ts";

interface ScipyCase {
  shape: number[];
  spacing: number[];
  a: number[];
  b: number[];
  surface_a: number[];
  ab: number[];
  ba: number[];
  hd95: number;
  hd: number;
  asd: number;
  assd_pooled: number;
  dc: number;
  edt_a: number[];
}

const reference = await readJson<{
  cases: ScipyCase[];
  percentiles: { values: number[]; q: number; expected: number }[];
}>(new URL("./testdata/scipy_reference.json", import.meta.url));

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(
      Math.abs(got[i] - want[i]) <= tol * Math.max(1, Math.abs(want[i])),
      `${what}[${i}]: got ${got[i]}, want ${want[i]}`,
    );
  }
}

function vol(shape: number[], fill: (c: number[]) => boolean): Volume {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c: number[] = [];
    let r = i;
    for (let a = shape.length - 1; a >= 0; a--) {
      c[a] = r % shape[a];
      r = Math.floor(r / shape[a]);
    }
    data[i] = fill(c) ? 1 : 0;
  }
  return { data, shape };
}

Deno.test("two single voxels are at their Euclidean distance with anisotropic spacing", () => {
  const shape = [4, 5, 6];
  const a = vol(shape, ([z, y, x]) => z === 0 && y === 0 && x === 0);
  const b = vol(shape, ([z, y, x]) => z === 2 && y === 3 && x === 4);
  const m = surfaceDistanceMetrics(a, b, { spacing: [2, 1, 0.5] });
  const d = Math.sqrt(4 * 4 + 3 * 3 + 2 * 2);
  assert.deepEqual(Array.from(m.resultToReference), [d]);
  assert.deepEqual(Array.from(m.referenceToResult), [d]);
  assert.equal(m.hd95, d);
  assert.equal(m.hausdorff, d);
  assert.equal(m.asd, d);
  assert.equal(m.assd, d);
});

Deno.test("parallel planes are their separation apart, in spacing units", () => {
  const shape = [7, 4, 5];
  const a = vol(shape, ([z]) => z === 1);
  const b = vol(shape, ([z]) => z === 4);
  const m = surfaceDistanceMetrics(a, b, { spacing: [2.5, 0.8, 0.8] });
  assert.equal(m.resultToReference.length, 20);
  assert.ok(m.resultToReference.every((d) => d === 7.5));
  assert.equal(m.hd95, 7.5);
  // In slabs two voxels thick every voxel is surface: A's planes are 2 and 3 from B's.
  const slabA = vol(shape, ([z]) => z === 0 || z === 1);
  const slabB = vol(shape, ([z]) => z === 3 || z === 4);
  const s = surfaceDistanceMetrics(slabA, slabB);
  assert.deepEqual(
    [...new Set(s.resultToReference)].sort(),
    [2, 3],
  );
  assert.equal(s.hausdorff, 3);
});

Deno.test("identical masks have all distances 0, and HD95 0", () => {
  const a = vol([5, 6, 7], ([z, y, x]) => (z - 2) ** 2 + (y - 3) ** 2 + (x - 3) ** 2 <= 5);
  const m = surfaceDistanceMetrics(a, a, { spacing: [3, 1, 1] });
  assert.ok(m.resultToReference.length > 0);
  assert.ok(m.resultToReference.every((d) => d === 0));
  assert.deepEqual([m.hd95, m.hausdorff, m.asd, m.assd], [0, 0, 0, 0]);
});

Deno.test("binarySurface erodes with connectivity 1 and treats the array border as background", () => {
  // A full 3×3×3 block: only the centre survives erosion.
  const full = binarySurface({ data: new Uint8Array(27).fill(1), shape: [3, 3, 3] });
  assert.equal(full.reduce((s, v) => s + v, 0), 26);
  assert.equal(full[13], 0);
  // A 5×5×5 cube inside a 7×7×7 volume: 125 − 27 interior voxels.
  const cube = vol([7, 7, 7], (c) => c.every((x) => x >= 1 && x <= 5));
  assert.equal(binarySurface(cube).reduce((s, v) => s + v, 0), 98);
  // medpy's 2-D example: the cross's centre has all four neighbours, the arms do not.
  const cross = { data: [0, 1, 0, 1, 1, 1, 0, 1, 0], shape: [3, 3] };
  assert.deepEqual(Array.from(binarySurface(cross)), [0, 1, 0, 1, 0, 1, 0, 1, 0]);
  // A one-slice 3-D volume: every voxel touches the border along z.
  const slice = binarySurface({ data: new Uint8Array(9).fill(1), shape: [1, 3, 3] });
  assert.equal(slice.reduce((s, v) => s + v, 0), 9);
  // Diagonal neighbours do not protect a voxel (connectivity 1).
  const diamond = vol([5, 5], ([y, x]) => Math.abs(y - 2) + Math.abs(x - 2) <= 2);
  assert.deepEqual(
    Array.from(binarySurface(diamond)),
    Array.from(bruteSurface(diamond.data, [5, 5])),
  );
});

Deno.test("medpy's documented example: asd(cross, 3×3 square) is 0 with connectivity 1", () => {
  const cross = { data: [0, 1, 0, 1, 1, 1, 0, 1, 0], shape: [3, 3] };
  const square = { data: [1, 1, 1, 1, 1, 1, 1, 1, 1], shape: [3, 3] };
  assert.equal(averageSurfaceDistance(cross, square), 0);
});

Deno.test("surface metrics match scipy's erosion and distance_transform_edt (medpy's formula)", () => {
  assert.ok(reference.cases.length >= 10);
  for (const [k, c] of reference.cases.entries()) {
    const a = { data: c.a, shape: c.shape };
    const b = { data: c.b, shape: c.shape };
    const what = `case ${k} shape [${c.shape}] spacing [${c.spacing}]`;
    assert.deepEqual(Array.from(binarySurface(a)), c.surface_a, `${what}: surface`);
    const m = surfaceDistanceMetrics(a, b, { spacing: c.spacing });
    assertClose(m.resultToReference, c.ab, 1e-12, `${what} ab`);
    assertClose(m.referenceToResult, c.ba, 1e-12, `${what} ba`);
    assertClose(
      [m.hd95, m.hausdorff, m.asd, m.assd],
      [c.hd95, c.hd, c.asd, c.assd_pooled],
      1e-12,
      what,
    );
    assertClose(
      euclideanDistanceTransform(a, { spacing: c.spacing }),
      c.edt_a,
      1e-12,
      `${what} edt`,
    );
  }
});

Deno.test("percentile() equals numpy.percentile (linear) to the last bit", () => {
  for (const p of reference.percentiles) {
    assert.equal(percentile(p.values, p.q), p.expected, `n=${p.values.length} q=${p.q}`);
  }
});

Deno.test("surface distances match a brute-force O(n²) reference on random volumes", () => {
  const random = rng(7);
  const shapes = [[6, 7, 8], [9, 5, 4], [1, 6, 7], [11, 13], [7, 3], [17], [3, 3, 3]];
  for (let trial = 0; trial < 28; trial++) {
    const shape = shapes[trial % shapes.length];
    const spacing = shape.map(() => 0.3 + 2 * random());
    const a = randomMask(shape, random);
    const b = randomMask(shape, random, 2);
    const sa = bruteSurface(a, shape);
    const sb = bruteSurface(b, shape);
    const what = `trial ${trial} shape [${shape}]`;
    assert.deepEqual(Array.from(binarySurface({ data: a, shape })), Array.from(sa), what);
    const m = surfaceDistanceMetrics({ data: a, shape }, { data: b, shape }, { spacing });
    assertClose(m.resultToReference, bruteDistances(sa, sb, shape, spacing), 1e-12, `${what} ab`);
    assertClose(m.referenceToResult, bruteDistances(sb, sa, shape, spacing), 1e-12, `${what} ba`);
  }
});

Deno.test("the bounding-box crop is exact: it equals a full-volume EDT and brute force", () => {
  const random = rng(11);
  const small = [5, 6, 4];
  const a = randomMask(small, random);
  const b = randomMask(small, random);
  const spacing = [1.5, 1, 0.7];
  // Embed in the middle of a 12×13×15 volume: the crop box is far from every border.
  const big = [12, 13, 15];
  const embed = (m: Uint8Array) => {
    const out = new Uint8Array(12 * 13 * 15);
    for (let z = 0; z < 5; z++) {
      for (let y = 0; y < 6; y++) {
        for (let x = 0; x < 4; x++) {
          out[((z + 4) * 13 + y + 5) * 15 + x + 9] = m[(z * 6 + y) * 4 + x];
        }
      }
    }
    return out;
  };
  const A = embed(a);
  const B = embed(b);
  const m = surfaceDistanceMetrics({ data: A, shape: big }, { data: B, shape: big }, { spacing });
  const sA = bruteSurface(A, big);
  const sB = bruteSurface(B, big);
  assertClose(m.resultToReference, bruteDistances(sA, sB, big, spacing), 1e-12, "ab");
  assertClose(m.referenceToResult, bruteDistances(sB, sA, big, spacing), 1e-12, "ba");
  // The naive path: the EDT of ~surface(B) over the whole volume, sampled at surface(A).
  const full = euclideanDistanceTransform({ data: sB.map((v) => 1 - v), shape: big }, { spacing });
  const naive = Array.from(sA.entries()).filter(([, v]) => v).map(([i]) => full[i]);
  assert.deepEqual(Array.from(m.resultToReference), naive);
});

Deno.test("HD95's pooled distances are symmetric: swapping the masks swaps the directions", () => {
  const random = rng(3);
  for (let trial = 0; trial < 6; trial++) {
    const shape = [4 + trial, 6, 7];
    const a = { data: randomMask(shape, random), shape };
    const b = { data: randomMask(shape, random), shape };
    const ab = surfaceDistanceMetrics(a, b, { spacing: [2, 1, 1] });
    const ba = surfaceDistanceMetrics(b, a, { spacing: [2, 1, 1] });
    assert.deepEqual(ab.resultToReference, ba.referenceToResult);
    assert.deepEqual(ab.referenceToResult, ba.resultToReference);
    assert.equal(ab.hd95, ba.hd95);
    assert.equal(ab.hausdorff, ba.hausdorff);
    assert.equal(ab.assd, ba.assd);
    assert.equal(hd95(a, b), hd95(b, a));
    assert.equal(hausdorffDistance(a, b), hausdorffDistance(b, a));
  }
});

Deno.test("surface metrics reject empty objects, shape mismatches, bad spacing and NaN", () => {
  const a = { data: [0, 1, 0, 0], shape: [2, 2] };
  const empty = { data: [0, 0, 0, 0], shape: [2, 2] };
  assert.throws(
    () => hd95(a, empty),
    (e: Error) => e instanceof EmptyObjectError && /reference does not contain/.test(e.message),
  );
  assert.throws(
    () => surfaceDistances(empty, a),
    (e: Error) => e instanceof EmptyObjectError && /result does not contain/.test(e.message),
  );
  assert.throws(
    () => hd95(a, { data: [0, 1, 0, 0], shape: [4] }),
    (e: Error) =>
      e instanceof ShapeMismatchError &&
      e.message === "result has shape [2, 2] but reference has shape [4]",
  );
  assert.throws(
    () => hd95({ data: [1, 0, 0], shape: [2, 2] }, a),
    (e: Error) =>
      e instanceof ShapeMismatchError &&
      /result has shape \[2, 2\] \(4 values\) but 3 values/.test(e.message),
  );
  assert.throws(
    () => hd95(a, a, { spacing: [1, 1, 1] }),
    (e: Error) => e instanceof InvalidOptionError && /spacing has 3 values/.test(e.message),
  );
  assert.throws(
    () => hd95(a, a, { spacing: [1, -2] }),
    (e: Error) => e instanceof InvalidOptionError && /finite and positive/.test(e.message),
  );
  assert.throws(
    () =>
      hd95({ data: new Uint8Array(16), shape: [2, 2, 2, 2] }, {
        data: new Uint8Array(16),
        shape: [2, 2, 2, 2],
      }),
    (e: Error) => e instanceof InvalidOptionError && /rank 4/.test(e.message),
  );
  assert.throws(
    () => hd95({ data: [0, NaN, 1, 0], shape: [2, 2] }, a),
    (e: Error) => e instanceof InvalidValueError && /result is NaN at flat index 1/.test(e.message),
  );
});
