import assert from "node:assert/strict";
import { FIXTURE_SIZES, pairPixels, writeMask, writeRgb } from "./_fixtures.ts";
import { DatasetOptionError, DecodeError } from "./errors.ts";
import { openFolder } from "./folder.ts";
import { openIsic } from "./isic.ts";
import { encodeNpz } from "./npy.ts";
import { openSynapse } from "./synapse.ts";
import { DataLoader } from "./loader.ts";
import type { Batch } from "./sample.ts";
import { SyntheticDataset } from "./synthetic.ts";

async function collect(loader: DataLoader, epoch: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epoch(epoch)) {
    assert.ok(
      loader.inFlight <= loader.prefetch,
      `in flight ${loader.inFlight} > prefetch ${loader.prefetch}`,
    );
    out.push(b);
  }
  return out;
}

Deno.test("DataLoader: length, seeded shuffles that cover every sample once, dropLast", async () => {
  const ds = new SyntheticDataset({ count: 10, size: 16 });
  const loader = new DataLoader(ds, { batchSize: 4, seed: 1, workers: 0 });
  assert.equal(loader.length, 3);
  assert.equal(new DataLoader(ds, { batchSize: 4, dropLast: true, workers: 0 }).length, 2);
  const e0 = loader.batches(0).flat(), e1 = loader.batches(1).flat();
  assert.deepEqual([...e0].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.notDeepEqual(e0, e1);
  assert.deepEqual(new DataLoader(ds, { batchSize: 4, seed: 1, workers: 0 }).batches(1).flat(), e1);
  assert.deepEqual(
    new DataLoader(ds, { batchSize: 4, shuffle: false, workers: 0 }).batches(0).flat(),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  const batches = await collect(loader, 0);
  assert.deepEqual(batches.map((b) => b.size), [4, 4, 2]);
  assert.deepEqual(
    batches[0].images.subarray(0, 3 * 256),
    (await ds.get(batches[0].indices[0])).image,
  );
  assert.equal(batches[2].images.length, 2 * 3 * 256);
  assert.equal(batches[2].masks.length, 2 * 256);
  assert.throws(
    () => new DataLoader(ds, { batchSize: 0 }),
    (e) => e instanceof DatasetOptionError && e.option === "batchSize",
  );
});

Deno.test("DataLoader gives the same batches with workers on and off, for the same seed and epoch", async () => {
  const root = await Deno.makeTempDir({ prefix: "loader_test_" });
  try {
    for (const d of ["images", "masks"]) {
      await Deno.mkdir(`${root}/train/${d}`, { recursive: true });
    }
    for (let k = 0; k < 7; k++) {
      const [w, h] = FIXTURE_SIZES[k % FIXTURE_SIZES.length];
      const { rgb, mask } = pairPixels(w, h, k);
      await writeRgb(`${root}/train/images/${k}.${k % 2 ? "jpg" : "png"}`, rgb, w, h);
      await writeMask(`${root}/train/masks/${k}.png`, mask, w, h);
    }
    const ds = await openIsic({ root, split: "train", size: 16, seed: 7 });
    const off = new DataLoader(ds, { batchSize: 3, seed: 11, workers: 0 });
    const on = new DataLoader(ds, { batchSize: 3, seed: 11, workers: 2, prefetch: 2 });
    try {
      for (const epoch of [0, 1]) {
        const a = await collect(off, epoch), b = await collect(on, epoch);
        assert.equal(a.length, 3);
        for (let i = 0; i < a.length; i++) {
          assert.deepEqual(b[i].indices, a[i].indices);
          assert.deepEqual(b[i].names, a[i].names);
          assert.deepEqual(b[i].images, a[i].images);
          assert.deepEqual(b[i].masks, a[i].masks);
        }
      }
      // A corrupt file surfaces from the worker as the same typed error naming the file.
      await Deno.writeFile(
        `${root}/train/images/3.jpg`,
        new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2]),
      );
      const broken = new DataLoader(ds, { batchSize: 7, workers: 1 });
      try {
        await assert.rejects(
          collect(broken, 0),
          (e) =>
            e instanceof DecodeError && /train\/images\/3\.jpg/.test(e.message) &&
            e.file.endsWith("3.jpg"),
        );
      } finally {
        await broken.close();
      }
    } finally {
      await on.close();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("DataLoader with workers streams synthetic batches and can stop early", async () => {
  const ds = new SyntheticDataset({ count: 12, size: 16, seed: 3 });
  const loader = new DataLoader(ds, { batchSize: 2, workers: 1, prefetch: 3, seed: 2 });
  const ref = new DataLoader(ds, { batchSize: 2, workers: 0, seed: 2 });
  try {
    let n = 0;
    const expected = await collect(ref, 4);
    for await (const b of loader.epoch(4)) {
      assert.deepEqual(b.images, expected[n].images);
      if (++n === 3) break;
    }
    assert.equal(n, 3);
  } finally {
    await loader.close();
  }
});

Deno.test("workers reopen folder and Synapse datasets from their spec and give identical batches", async () => {
  const root = await Deno.makeTempDir({ prefix: "loader_spec_test_" });
  try {
    await Deno.mkdir(`${root}/pairs/images`, { recursive: true });
    await Deno.mkdir(`${root}/pairs/masks`);
    await Deno.mkdir(`${root}/Synapse/train_npz`, { recursive: true });
    for (let k = 0; k < 4; k++) {
      const [w, h] = FIXTURE_SIZES[k];
      const { rgb, mask } = pairPixels(w, h, k);
      await writeRgb(`${root}/pairs/images/p${k}.png`, rgb, w, h);
      await writeMask(`${root}/pairs/masks/p${k}.png`, mask.map((v) => (v ? 2 : 0)), w, h);
      const label = new Float32Array(24 * 24).map((_, i) => (i + k) % 9);
      await Deno.writeFile(
        `${root}/Synapse/train_npz/case0005_slice00${k}.npz`,
        encodeNpz({
          image: { dtype: "float32", shape: [24, 24], data: label.map((v) => v / 8) },
          label: { dtype: "float32", shape: [24, 24], data: label },
        }),
      );
    }
    const datasets = [
      await openFolder({
        root: `${root}/pairs`,
        numClasses: 3,
        size: 12,
        split: "all",
        augment: true,
      }),
      await openSynapse({ root: `${root}/Synapse`, size: 16 }),
    ];
    for (const ds of datasets) {
      const off = new DataLoader(ds, { batchSize: 2, workers: 0, seed: 5 });
      const on = new DataLoader(ds, { batchSize: 2, workers: 1, seed: 5 });
      try {
        const a = await collect(off, 3), b = await collect(on, 3);
        assert.equal(a.length, 2);
        for (let i = 0; i < a.length; i++) {
          assert.ok(b[i].masks instanceof Int32Array, ds.spec.kind);
          assert.deepEqual(b[i].images, a[i].images);
          assert.deepEqual(b[i].masks, a[i].masks);
        }
      } finally {
        await on.close();
      }
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
