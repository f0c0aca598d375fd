import assert from "node:assert/strict";
import { withTempDir } from "../../tools/testing.ts";
import { FIXTURE_SIZES, pairPixels, writeMask, writeRgb } from "./_fixtures.ts";
import { DatasetLayoutError, DatasetOptionError } from "./errors.ts";
import { encodePng } from "./image_codec.ts";
import { openFolder } from "./folder.ts";

/** Writes 6 label pairs with classes 0..3 (palette PNGs for even k, grey PNGs for odd k). */
async function labelFolder(root: string): Promise<void> {
  for (const d of ["images", "masks"]) await Deno.mkdir(`${root}/${d}`);
  for (let k = 0; k < 6; k++) {
    const [w, h] = FIXTURE_SIZES[k % FIXTURE_SIZES.length];
    const { rgb } = pairPixels(w, h, k);
    const labels = new Uint8Array(w * h).map((_, i) => Math.min(3, Math.floor(((i % w) / w) * 4)));
    await writeRgb(`${root}/images/img_${k}.${k % 2 ? "jpg" : "png"}`, rgb, w, h);
    const palette = k % 2 === 0 ? [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]] : undefined;
    await Deno.writeFile(
      `${root}/masks/img_${k}_mask.png`,
      encodePng({ width: w, height: h, channels: 1, data: labels, palette }),
    );
  }
}

Deno.test("folder of label PNGs: Int32 labels (S,S) in the label set, also after rotation", async () => {
  await withTempDir("folder_test_", async (root) => {
    await labelFolder(root);
    const ds = await openFolder({
      root,
      numClasses: 4,
      size: 20,
      split: "train",
      valFraction: 0.5,
      augmentProbability: 1,
    });
    assert.equal(ds.length, 3);
    assert.equal(ds.numClasses, 4);
    for (let i = 0; i < ds.length; i++) {
      for (const epoch of [0, 1]) {
        const s = await ds.get(i, epoch);
        assert.ok(s.mask instanceof Int32Array);
        assert.equal(s.mask.length, 400);
        const seen = new Set(s.mask);
        for (const v of seen) assert.ok([0, 1, 2, 3].includes(v), `label ${v}`);
        assert.ok(seen.size >= 3, "labels survive the rotation");
      }
    }
  });
});

Deno.test("folder split: train and val are disjoint, seeded, and cover all pairs", async () => {
  await withTempDir("folder_test_", async (root) => {
    await labelFolder(root);
    const opts = { root, numClasses: 4, valFraction: 0.34, seed: 9 };
    const train = await openFolder({ ...opts, split: "train" });
    const val = await openFolder({ ...opts, split: "val" });
    const all = await openFolder({ ...opts, split: "all" });
    assert.equal(val.length, 2);
    assert.deepEqual([...train.names, ...val.names].sort(), [...all.names]);
    assert.deepEqual((await openFolder({ ...opts, split: "val" })).names, val.names);
  });
});

Deno.test("folder of binary 0/1 and 0/255 masks gives {0,1} float masks matching the images", async () => {
  await withTempDir("folder_test_", async (root) => {
    for (const d of ["images", "masks"]) await Deno.mkdir(`${root}/${d}`);
    for (let k = 0; k < 2; k++) {
      const [w, h] = FIXTURE_SIZES[k];
      const { rgb, mask } = pairPixels(w, h, k);
      await writeRgb(`${root}/images/p${k}.png`, rgb, w, h);
      await writeMask(`${root}/masks/p${k}.png`, k === 0 ? mask.map((v) => v / 255) : mask, w, h);
    }
    const ds = await openFolder({ root, size: 24 });
    for (let i = 0; i < 2; i++) {
      const s = await ds.get(i);
      assert.ok(s.mask instanceof Float32Array && s.mask.every((v) => v === 0 || v === 1));
      let agree = 0;
      for (let p = 0; p < 576; p++) agree += (s.image[p] > 127.5 ? 1 : 0) === s.mask[p] ? 1 : 0;
      assert.ok(agree / 576 > 0.97);
    }
  });
});

Deno.test("folder errors: image without mask, label outside the classes, empty folder, bad options", async () => {
  await withTempDir("folder_test_", async (root) => {
    await labelFolder(root);
    await assert.rejects(
      openFolder({ root, numClasses: 3 }).then((d) => d.get(0)),
      (e) =>
        e instanceof DatasetLayoutError &&
        /img_0_mask\.png: label 3 .* outside 0\.\.2/.test(e.message),
    );
    await Deno.remove(`${root}/masks/img_4_mask.png`);
    await assert.rejects(
      openFolder({ root, numClasses: 4 }),
      (e) =>
        e instanceof DatasetLayoutError && /images\/img_4\.png: image without mask/.test(e.message),
    );
    await Deno.mkdir(`${root}/e/images`, { recursive: true });
    await Deno.mkdir(`${root}/e/masks`);
    await assert.rejects(
      openFolder({ root: `${root}/e` }),
      (e) => e instanceof DatasetLayoutError && /e\/images: empty folder/.test(e.message),
    );
    await assert.rejects(
      openFolder({ root, numClasses: 0 }),
      (e) => e instanceof DatasetOptionError && e.option === "numClasses",
    );
  });
});
