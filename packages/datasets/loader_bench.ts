/**
 * Throughput of the ISIC pipeline: read + decode a 1024×768 JPEG and its PNG mask, official
 * preprocessing, train-time augmentation, resize to 256×256, batching — on the main thread
 * (baseline) and in 1 and 2 Web Workers.
 *
 * `deno bench -A packages/datasets/loader_bench.ts` for deno's statistics, or
 * `deno run -A packages/datasets/loader_bench.ts [--images 16] [--workers 0,1,2] [--json out.json]`
 * for an images/s table.
 *
 * @module
 */

import jpeg from "jpeg-js";
import { parseArgs } from "node:util";
import {
  DataLoader,
  decodeImage,
  drawPairAugmentation,
  encodeJpeg,
  encodePng,
  generateSyntheticSample,
  preprocessPair,
  toGrey8,
  toRgb8,
} from "./mod.ts";
import { openIsic } from "./fs.ts";

/** Mean milliseconds per stage for one pair on the calling thread. */
async function stages(root: string, runs: number): Promise<Record<string, number>> {
  const ds = await openIsic({ root, split: "train", size: 256, augmentProbability: 1 });
  const t: Record<string, number> = {
    read: 0,
    "decode JPEG": 0,
    "decode PNG": 0,
    "preprocess+augment+resize": 0,
    "decode JPEG with jpeg-js (former decoder, for comparison)": 0,
  };
  for (let r = -2; r < runs; r++) {
    const pair = ds.pairs[(r + 2) % ds.length];
    const t0 = performance.now();
    const [ib, mb] = await Promise.all([Deno.readFile(pair.image), Deno.readFile(pair.mask)]);
    const t1 = performance.now();
    const img = await decodeImage(ib, pair.image);
    const t2 = performance.now();
    const msk = await decodeImage(mb, pair.mask);
    const t3 = performance.now();
    const aug = drawPairAugmentation(ds.preprocess, 0, r + 2);
    preprocessPair(toRgb8(img), toGrey8(msk), img.height, img.width, ds.preprocess, aug, pair.name);
    const t4 = performance.now();
    jpeg.decode(ib, { useTArray: true, formatAsRGBA: false });
    const t5 = performance.now();
    if (r < 0) continue;
    t["decode JPEG with jpeg-js (former decoder, for comparison)"] += (t5 - t4) / runs;
    t.read += (t1 - t0) / runs;
    t["decode JPEG"] += (t2 - t1) / runs;
    t["decode PNG"] += (t3 - t2) / runs;
    t["preprocess+augment+resize"] += (t4 - t3) / runs;
  }
  return t;
}

const W = 1024, H = 768;

/** Writes `count` dermoscopy-like 1024×768 JPEG/PNG pairs in the official layout. */
async function makeDataset(root: string, count: number): Promise<void> {
  for (const d of ["images", "masks"]) await Deno.mkdir(`${root}/train/${d}`, { recursive: true });
  const base = generateSyntheticSample(7, 0, 1024, false);
  const plane = 1024 * 1024;
  for (let k = 0; k < count; k++) {
    const rgb = new Uint8Array(W * H * 3), mask = new Uint8Array(W * H);
    const shift = (k * 97) % 256;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const src = ((y + shift) % 1024) * 1024 + ((x + 3 * shift) % 1024);
        const i = y * W + x;
        for (let c = 0; c < 3; c++) rgb[i * 3 + c] = base.image[c * plane + src];
        mask[i] = base.mask[src] * 255;
      }
    }
    const id = `ISIC_${String(k).padStart(7, "0")}`;
    await Deno.writeFile(`${root}/train/images/${id}.jpg`, encodeJpeg(rgb, W, H, 90));
    await Deno.writeFile(
      `${root}/train/masks/${id}_segmentation.png`,
      encodePng({ width: W, height: H, channels: 1, data: mask }),
    );
  }
}

async function epoch(loader: DataLoader, e: number): Promise<number> {
  let n = 0;
  for await (const b of loader.epoch(e)) n += b.size;
  return n;
}

async function makeLoader(root: string, workers: number): Promise<DataLoader> {
  const ds = await openIsic({ root, split: "train", size: 256 });
  return new DataLoader(ds, { batchSize: 4, workers, seed: 1 });
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      images: { type: "string" },
      json: { type: "string" },
      repeats: { type: "string" },
      workers: { type: "string" },
    },
  });
  const count = Number(values.images ?? 16);
  const repeats = Number(values.repeats ?? 2);
  const root = await Deno.makeTempDir({ prefix: "loader_bench_" });
  try {
    await makeDataset(root, count);
    const rows: { workers: number; imagesPerSecond: number; seconds: number }[] = [];
    const counts = (values.workers ?? "0,1,2").split(",").map(Number);
    for (const workers of counts) {
      // One loader for all epochs, as in training; the warm-up epoch starts the workers.
      const loader = await makeLoader(root, workers);
      try {
        await epoch(loader, 99);
        let best = Infinity;
        for (let r = 0; r < repeats; r++) {
          const t0 = performance.now();
          const n = await epoch(loader, r);
          best = Math.min(best, (performance.now() - t0) / 1000 / n);
        }
        rows.push({ workers, imagesPerSecond: 1 / best, seconds: best });
      } finally {
        await loader.close();
      }
    }
    const base = rows[0].imagesPerSecond;
    console.log(
      `ISIC pipeline, ${count} × ${W}×${H} JPEG + PNG mask → augmented 256×256 batches of 4`,
    );
    console.log(
      `CPU threads: ${navigator.hardwareConcurrency}; one loader per row, best of ${repeats} epochs after a warm-up epoch`,
    );
    console.log("| workers | images/s | ms/image | vs main thread |");
    console.log("|---|---|---|---|");
    for (const r of rows) {
      console.log(
        `| ${r.workers === 0 ? "0 (main thread)" : r.workers} | ${r.imagesPerSecond.toFixed(2)} | ${
          (1000 * r.seconds).toFixed(0)
        } | ${(r.imagesPerSecond / base).toFixed(2)}× |`,
      );
    }
    const stage = await stages(root, 8);
    console.log(
      "Per image on the main thread (8 runs, every augmentation on): " +
        Object.entries(stage).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(", "),
    );
    if (values.json) {
      await Deno.writeTextFile(
        values.json,
        JSON.stringify({ count, width: W, height: H, rows, stage }, null, 1),
      );
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
} else {
  const root = await Deno.makeTempDir({ prefix: "loader_bench_" });
  await makeDataset(root, 8);
  let e = 0;
  for (const workers of [0, 1, 2]) {
    const loader = await makeLoader(root, workers);
    Deno.bench({
      name: `ISIC epoch of 8 × 1024×768 JPEG+PNG → 256², workers ${workers}`,
      group: "isic-pipeline",
      baseline: workers === 0,
      n: 3,
      warmup: 1,
      fn: async () => {
        await epoch(loader, e++);
      },
    });
  }
  globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
  // Workers are ended by process exit after the benchmarks.
}
