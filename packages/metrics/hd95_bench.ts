/**
 * HD95 of one organ on a 150×512×512 CT-sized volume: the bounding-box-cropped exact EDT
 * against the naive approach (surfaces and EDT over the whole volume), same run.
 *
 * `deno bench packages/metrics/hd95_bench.ts` for `deno bench`'s table, or
 * `deno run packages/metrics/hd95_bench.ts` for a timed table in markdown (BENCHMARKS.md).
 *
 * The organ is synthetic and organ-sized: the union of two overlapping ellipsoids (about
 * 1.1 M voxels, like a liver at 0.7×0.7×2.5 mm) for the truth; the prediction is the same
 * two ellipsoids moved by a few voxels and resized by 3–6 %, plus a small false-positive
 * blob, as segmentations have.
 *
 * @module
 */

import {
  binarySurface,
  euclideanDistanceTransform,
  hd95,
  percentile,
  perClassMetrics,
} from "./mod.ts";

const SHAPE = [150, 512, 512] as const;

interface Ellipsoid {
  c: [number, number, number];
  r: [number, number, number];
}

function paint(out: Uint8Array, e: Ellipsoid, value: number): void {
  const [, ny, nx] = SHAPE;
  const [cz, cy, cx] = e.c;
  const [rz, ry, rx] = e.r;
  for (let z = Math.max(0, Math.ceil(cz - rz)); z <= Math.min(SHAPE[0] - 1, cz + rz); z++) {
    const fz = 1 - ((z - cz) / rz) ** 2;
    if (fz < 0) continue;
    for (let y = Math.max(0, Math.ceil(cy - ry)); y <= Math.min(ny - 1, cy + ry); y++) {
      const fy = fz - ((y - cy) / ry) ** 2;
      if (fy < 0) continue;
      const half = rx * Math.sqrt(fy);
      const x0 = Math.max(0, Math.ceil(cx - half));
      const x1 = Math.min(nx - 1, Math.floor(cx + half));
      if (x1 >= x0) out.fill(value, (z * ny + y) * nx + x0, (z * ny + y) * nx + x1 + 1);
    }
  }
}

/** The truth and prediction masks (0/1) of one organ. */
export function organVolumes(): { gt: Uint8Array; pred: Uint8Array } {
  const n = SHAPE[0] * SHAPE[1] * SHAPE[2];
  const gt = new Uint8Array(n);
  const pred = new Uint8Array(n);
  paint(gt, { c: [70, 250, 210], r: [32, 95, 75] }, 1);
  paint(gt, { c: [82, 300, 270], r: [26, 60, 55] }, 1);
  paint(pred, { c: [71, 253, 208], r: [31, 98, 73] }, 1);
  paint(pred, { c: [80, 296, 274], r: [27, 57, 58] }, 1);
  paint(pred, { c: [100, 360, 150], r: [4, 8, 8] }, 1); // a false positive nearby
  return { gt, pred };
}

/** The naive baseline: surfaces and the EDT of the whole volume, no cropping. */
export function naiveHd95(pred: Uint8Array, gt: Uint8Array): number {
  const shape = [...SHAPE];
  const sp = binarySurface({ data: pred, shape });
  const sg = binarySurface({ data: gt, shape });
  const sample = (from: Uint8Array, to: Uint8Array) => {
    const inverted = new Uint8Array(to.length);
    for (let i = 0; i < to.length; i++) inverted[i] = to[i] ? 0 : 1;
    const dt = euclideanDistanceTransform({ data: inverted, shape });
    const out: number[] = [];
    for (let i = 0; i < from.length; i++) if (from[i]) out.push(dt[i]);
    return out;
  };
  return percentile([...sample(sp, sg), ...sample(sg, sp)], 95);
}

const volumes = organVolumes();
const shape = [...SHAPE];

Deno.bench({
  name: "hd95, bbox-cropped exact EDT (150×512×512, one organ)",
  group: "hd95",
  n: 5,
  warmup: 1,
  fn: () => {
    hd95({ data: volumes.pred, shape }, { data: volumes.gt, shape });
  },
});

Deno.bench({
  name: "perClassMetrics, label volume, one organ (Dice + HD95 + HD + ASD)",
  group: "hd95",
  n: 5,
  warmup: 1,
  fn: () => {
    perClassMetrics({ data: volumes.pred, shape }, { data: volumes.gt, shape }, { classes: 2 });
  },
});

Deno.bench({
  name: "baseline: naive full-volume surfaces + EDT",
  group: "hd95",
  baseline: true,
  n: 2,
  warmup: 1,
  fn: () => {
    naiveHd95(volumes.pred, volumes.gt);
  },
});

function time(fn: () => unknown, runs: number): { median: number; min: number; value: unknown } {
  let value: unknown;
  const times: number[] = [];
  fn(); // warm-up
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    value = fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0], value };
}

if (import.meta.main) {
  const ours = time(() => hd95({ data: volumes.pred, shape }, { data: volumes.gt, shape }), 5);
  const perClass = time(
    () =>
      perClassMetrics({ data: volumes.pred, shape }, { data: volumes.gt, shape }, { classes: 2 })[0]
        .hd95,
    5,
  );
  const naive = time(() => naiveHd95(volumes.pred, volumes.gt), 2);
  if (ours.value !== naive.value || perClass.value !== naive.value) {
    throw new Error(`results differ: ${ours.value} / ${perClass.value} vs naive ${naive.value}`);
  }
  const gtVoxels = volumes.gt.reduce((s, v) => s + v, 0);
  console.log(
    `Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} logical CPUs; ` +
      `volume ${SHAPE.join("×")}, organ ${gtVoxels} voxels, hd95 = ${ours.value}`,
  );
  console.log("| HD95, one organ, 150×512×512 | median (ms) | min (ms) | vs naive |");
  console.log("|---|---:|---:|---:|");
  const row = (name: string, r: { median: number; min: number }) =>
    console.log(
      `| ${name} | ${r.median.toFixed(0)} | ${r.min.toFixed(0)} | ${
        (naive.median / r.median).toFixed(1)
      }× |`,
    );
  row("`hd95()` (bbox crop, exact EDT)", ours);
  row("`perClassMetrics()` (labels, Dice + HD95 + HD + ASD)", perClass);
  row("naive: whole-volume surfaces + EDT (baseline)", naive);
}
