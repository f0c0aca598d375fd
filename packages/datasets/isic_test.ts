import assert from "node:assert/strict";
import { withTempDir } from "../../tools/testing.ts";
import { loadReference } from "./_reference.ts";
import { FIXTURE_SIZES, pairPixels, writeMask, writeRgb } from "./_fixtures.ts";
import { DatasetLayoutError, DecodeError } from "./errors.ts";
import { openIsic } from "./isic.ts";
import { drawPairAugmentation, preprocessPair, resolvePreprocess } from "./paired.ts";
import { resizeBilinear, resizeNearest } from "./resize.ts";
import type { Sample } from "./sample.ts";
import { flipHorizontal, flipVertical, myNormalize, rotateNearest } from "./transforms.ts";
import type { PairAugmentation, ResolvedPreprocess } from "./paired.ts";

/** The official transforms applied one after the other (the reference of the fused pipeline). */
function unfusedReference(
  rgb: Uint8Array,
  target: Uint8Array,
  h: number,
  w: number,
  p: ResolvedPreprocess,
  aug: PairAugmentation,
): { image: Float64Array; mask: Float64Array | Int32Array } {
  const n = h * w;
  const norm = myNormalize(rgb, p.normalization);
  let image = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) image[c * n + i] = norm[i * 3 + c];
  let mask: Float64Array | Int32Array = p.numClasses === 1
    ? Float64Array.from(target, (v) => v / 255)
    : Int32Array.from(target);
  if (aug.hflip) [image, mask] = [flipHorizontal(image, 3, h, w), flipHorizontal(mask, 1, h, w)];
  if (aug.vflip) [image, mask] = [flipVertical(image, 3, h, w), flipVertical(mask, 1, h, w)];
  if (aug.angle !== null) {
    [image, mask] = [
      rotateNearest(image, 3, h, w, aug.angle),
      rotateNearest(mask, 1, h, w, aug.angle),
    ];
  }
  const S = p.size;
  const outImage = resizeBilinear(
    image,
    3,
    h,
    w,
    S,
    S,
    new Float64Array(3 * S * S),
  ) as Float64Array;
  if (p.numClasses > 1) {
    return { image: outImage, mask: resizeNearest(mask as Int32Array, 1, h, w, S, S) };
  }
  const soft = resizeBilinear(mask, 1, h, w, S, S, new Float64Array(S * S)) as Float64Array;
  return { image: outImage, mask: p.softMasks ? soft : soft.map((v) => (v >= 0.5 ? 1 : 0)) };
}

Deno.test("the fused preprocessPair() equals normalise → flips → TF.rotate → TF.resize one after the other", () => {
  const cases: [number, number, PairAugmentation][] = [
    [23, 17, { hflip: false, vflip: false, angle: null }],
    [23, 17, { hflip: true, vflip: true, angle: null }],
    [31, 20, { hflip: true, vflip: false, angle: 37.25 }],
    [20, 31, { hflip: false, vflip: true, angle: 270 }],
    [16, 16, { hflip: true, vflip: true, angle: 181.5 }],
  ];
  for (const soft of [false, true]) {
    for (const [w, h, aug] of cases) {
      const { rgb, mask } = pairPixels(w, h, w + h);
      for (let i = 0; i < rgb.length; i++) rgb[i] = (rgb[i] * 7 + i) % 251 + 2;
      const p = resolvePreprocess({ size: 24, softMasks: soft }, true, 1, {
        mean: 157.561,
        std: 26.706,
      });
      const fused: Sample = preprocessPair(rgb, mask, h, w, p, aug, "x");
      const ref = unfusedReference(rgb, mask, h, w, p, aug);
      // Same float64 expressions, stored as float32: max error 3e-5 on [0, 255].
      let e = 0;
      for (let i = 0; i < ref.image.length; i++) {
        e = Math.max(e, Math.abs(fused.image[i] - ref.image[i]));
      }
      assert.ok(e < 3e-5, `${w}×${h} ${JSON.stringify(aug)}: image error ${e}`);
      for (let i = 0; i < ref.mask.length; i++) {
        assert.ok(Math.abs(fused.mask[i] - ref.mask[i]) < 1e-6);
      }
      const labels = Uint8Array.from(mask, (v, i) => (v ? 1 + (i % 3) : 0));
      const pl = resolvePreprocess({ size: 24 }, true, 4, { mean: 0, std: 1 });
      assert.deepEqual(
        preprocessPair(rgb, labels, h, w, pl, aug, "l").mask,
        unfusedReference(rgb, labels, h, w, pl, aug).mask,
      );
    }
  }
});

async function officialLayout(root: string, count = 5): Promise<void> {
  for (const split of ["train", "val"]) {
    for (const d of ["images", "masks"]) {
      await Deno.mkdir(`${root}/${split}/${d}`, { recursive: true });
    }
    for (let k = 0; k < count; k++) {
      const [w, h] = FIXTURE_SIZES[k % FIXTURE_SIZES.length];
      const { rgb, mask } = pairPixels(w, h, k);
      const ext = k % 2 === 0 ? "png" : "jpg";
      await writeRgb(`${root}/${split}/images/ISIC_000000${k}.${ext}`, rgb, w, h);
      await writeMask(`${root}/${split}/masks/ISIC_000000${k}_segmentation.png`, mask, w, h);
    }
  }
}

Deno.test("official ISIC layout: sorted pairs, (3,S,S) images in [0,255], masks in {0,1}", async () => {
  await withTempDir("isic_test_", async (root) => {
    await officialLayout(root);
    const ds = await openIsic({ root, split: "val", size: 32 });
    assert.equal(ds.length, 5);
    assert.deepEqual(ds.names, [
      "ISIC_0000000",
      "ISIC_0000001",
      "ISIC_0000002",
      "ISIC_0000003",
      "ISIC_0000004",
    ]);
    for (let i = 0; i < ds.length; i++) {
      const s = await ds.get(i);
      assert.deepEqual([s.channels, s.height, s.width], [3, 32, 32]);
      let lo = Infinity, hi = -Infinity;
      for (const v of s.image) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
      assert.ok(lo >= 0 && hi <= 255 + 1e-3 && hi > 200, `range ${lo}..${hi}`);
      assert.ok(s.mask.every((v) => v === 0 || v === 1));
      // Pairing: the red channel is bright exactly where the mask is.
      let agree = 0;
      for (let p = 0; p < 32 * 32; p++) agree += (s.image[p] > 127.5 ? 1 : 0) === s.mask[p] ? 1 : 0;
      assert.ok(agree / (32 * 32) > 0.97, `${s.name}: red/mask agreement ${agree / 1024}`);
    }
  });
});

Deno.test("val split is not augmented; train split is, deterministically per (seed, epoch, index)", async () => {
  await withTempDir("isic_test_", async (root) => {
    await officialLayout(root);
    const val = await openIsic({ root, split: "val", size: 24 });
    assert.deepEqual((await val.get(1, 0)).image, (await val.get(1, 7)).image);
    const a = await openIsic({ root, split: "train", size: 24, seed: 3 });
    const b = await openIsic({ root, split: "train", size: 24, seed: 3 });
    let differs = 0;
    for (let i = 0; i < a.length; i++) {
      assert.deepEqual((await a.get(i, 2)).image, (await b.get(i, 2)).image);
      assert.deepEqual((await a.get(i, 2)).mask, (await b.get(i, 2)).mask);
      if (!sameArray((await a.get(i, 2)).image, (await a.get(i, 3)).image)) differs++;
    }
    assert.ok(differs > 0, "some augmentation changes between epochs");
  });
});

function sameArray(x: ArrayLike<number>, y: ArrayLike<number>): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

Deno.test("a flipped image comes with its flipped mask; rotation moves image and soft mask together", () => {
  const [w, h] = [21, 17];
  const { rgb, mask } = pairPixels(w, h, 2);
  const p = resolvePreprocess({ size: 16, softMasks: true }, true, 1, { mean: 1, std: 2 });
  const plain = preprocessPair(
    rgb,
    mask,
    h,
    w,
    p,
    { hflip: false, vflip: false, angle: null },
    "x",
  );
  const hf = preprocessPair(rgb, mask, h, w, p, { hflip: true, vflip: false, angle: null }, "x");
  const vf = preprocessPair(rgb, mask, h, w, p, { hflip: false, vflip: true, angle: null }, "x");
  const close = (x: ArrayLike<number>, y: ArrayLike<number>) => {
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
    return m;
  };
  // Flip commutes with the half-pixel bilinear resize (max error 1e-4 from float32 storage).
  assert.ok(close(hf.image, flipHorizontal(plain.image, 3, 16, 16)) < 1e-4);
  assert.ok(close(hf.mask, flipHorizontal(plain.mask as Float32Array, 1, 16, 16)) < 1e-6);
  assert.ok(close(vf.image, flipVertical(plain.image, 3, 16, 16)) < 1e-4);
  assert.ok(close(vf.mask, flipVertical(plain.mask as Float32Array, 1, 16, 16)) < 1e-6);
  // Red = 255 exactly on the mask, fill 0 outside: after any rotation red == 255 · soft mask.
  for (const angle of [17, 90, 233.5]) {
    const r = preprocessPair(rgb, mask, h, w, p, { hflip: true, vflip: false, angle }, "x");
    assert.ok(
      close(r.image.subarray(0, 256), Float32Array.from(r.mask, (v) => 255 * v)) < 1e-3,
      `angle ${angle}`,
    );
    assert.ok(r.mask.some((v) => v > 0 && v < 1), "soft values kept with softMasks");
  }
});

Deno.test("rotation: a fresh angle per sample by default, one fixed angle with rotation: official", () => {
  const fresh = resolvePreprocess({ augmentProbability: 1 }, true, 1, { mean: 0, std: 1 });
  const fixed = resolvePreprocess({ augmentProbability: 1, rotation: "official" }, true, 1, {
    mean: 0,
    std: 1,
  });
  const anglesFresh = new Set<number | null>(), anglesFixed = new Set<number | null>();
  for (let i = 0; i < 20; i++) {
    anglesFresh.add(drawPairAugmentation(fresh, 0, i).angle);
    anglesFixed.add(drawPairAugmentation(fixed, i % 3, i).angle);
  }
  assert.equal(anglesFresh.size, 20);
  assert.equal(anglesFixed.size, 1);
  const [angle] = anglesFixed;
  assert.ok(angle !== null && angle >= 0 && angle < 360);
  const explicit = resolvePreprocess(
    { augmentProbability: 1, rotation: "official", officialAngle: 123 },
    true,
    1,
    { mean: 0, std: 1 },
  );
  assert.equal(drawPairAugmentation(explicit, 5, 9).angle, 123);
});

Deno.test("soft masks are binarised at 0.5 after the bilinear resize unless softMasks is set", async () => {
  await withTempDir("isic_test_", async (root) => {
    await officialLayout(root, 2);
    const hard = await (await openIsic({ root, split: "val", size: 13 })).get(0);
    const soft = await (await openIsic({ root, split: "val", size: 13, softMasks: true })).get(0);
    assert.ok(soft.mask.some((v) => v > 0 && v < 1));
    for (let i = 0; i < hard.mask.length; i++) {
      assert.equal(hard.mask[i], soft.mask[i] >= 0.5 ? 1 : 0);
    }
  });
});

Deno.test("ISIC release layout: pairs by id across folders, ignores superpixels, seeded 7:3 split", async () => {
  await withTempDir("isic_test_", async (root) => {
    await Deno.mkdir(`${root}/ISIC2018_Task1-2_Training_Input`);
    await Deno.mkdir(`${root}/ISIC2018_Task1_Training_GroundTruth`);
    for (let k = 0; k < 10; k++) {
      const [w, h] = FIXTURE_SIZES[k % FIXTURE_SIZES.length];
      const { rgb, mask } = pairPixels(w, h, k);
      const id = `ISIC_00${String(k * 37).padStart(5, "0")}`;
      await writeRgb(`${root}/ISIC2018_Task1-2_Training_Input/${id}.jpg`, rgb, w, h);
      await writeMask(
        `${root}/ISIC2018_Task1-2_Training_Input/${id}_superpixels.png`,
        new Uint8Array(4),
        2,
        2,
      );
      await writeMask(
        `${root}/ISIC2018_Task1_Training_GroundTruth/${id}_segmentation.png`,
        mask,
        w,
        h,
      );
    }
    await Deno.writeTextFile(`${root}/ISIC2018_Task1-2_Training_Input/LICENSE.txt`, "x");
    const train = await openIsic({ root, split: "train", size: 16 });
    const val = await openIsic({ root, split: "val", size: 16 });
    const all = await openIsic({ root, split: "all", size: 16 });
    assert.equal(train.length, 7);
    assert.equal(val.length, 3);
    assert.deepEqual([...train.names, ...val.names].sort(), [...all.names]);
    const s = await val.get(0);
    let agree = 0;
    for (let p = 0; p < 256; p++) agree += (s.image[p] > 127.5 ? 1 : 0) === s.mask[p] ? 1 : 0;
    assert.ok(agree / 256 > 0.95);
  });
});

Deno.test("ISIC errors: image without mask, mask of another size, empty folder, corrupt image", async () => {
  await withTempDir("isic_test_", async (root) => {
    await officialLayout(root, 3);
    await Deno.remove(`${root}/train/masks/ISIC_0000001_segmentation.png`);
    await assert.rejects(
      openIsic({ root, split: "train" }),
      (e) =>
        e instanceof DatasetLayoutError &&
        /train\/images\/ISIC_0000001\.jpg: image without mask/.test(e.message),
    );
    const { mask } = pairPixels(10, 10, 0);
    await writeMask(`${root}/val/masks/ISIC_0000002_segmentation.png`, mask, 10, 10);
    await assert.rejects(
      openIsic({ root, split: "val" }),
      (e) =>
        e instanceof DatasetLayoutError &&
        /val\/masks\/ISIC_0000002_segmentation\.png: mask is 10×10 but its image .* is 25×25/.test(
          e.message,
        ),
    );
    const lazy = await openIsic({ root, split: "val", validate: false, size: 8 });
    await assert.rejects(
      lazy.get(2),
      (e) =>
        e instanceof DatasetLayoutError &&
        /ISIC_0000002_segmentation\.png: mask is 10×10/.test(e.message),
    );
    await Deno.writeFile(
      `${root}/val/images/ISIC_0000000.png`,
      new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]),
    );
    await assert.rejects(
      lazy.get(0),
      (e) =>
        e instanceof DecodeError &&
        /val\/images\/ISIC_0000000\.png: corrupt or truncated PNG/.test(e.message),
    );
    await Deno.mkdir(`${root}/empty/train/images`, { recursive: true });
    await Deno.mkdir(`${root}/empty/train/masks`, { recursive: true });
    await assert.rejects(
      openIsic({ root: `${root}/empty` }),
      (e) =>
        e instanceof DatasetLayoutError && /empty\/train\/images: empty folder/.test(e.message),
    );
    await assert.rejects(
      openIsic({ root: `${root}/nothing` }),
      (e) => e instanceof DatasetLayoutError && /nothing: folder not found/.test(e.message),
    );
  });
});

Deno.test("preprocessPair() matches the official torchvision chain (myNormalize, flips, TF.rotate, TF.resize) within 3e-5", () => {
  // Reference: testdata/make_reference.py §9, run once with torch 1.13.1 / torchvision 0.14.1.
  const ref = loadReference().isic_chain;
  const [h, w] = ref.input_hwc.shape;
  const rgb = Uint8Array.from(ref.input_hwc.data as number[]);
  const mask = Uint8Array.from(ref.mask_hw.data as number[]);
  const p = resolvePreprocess({ size: 24, softMasks: true }, true, 1, {
    mean: ref.mean,
    std: ref.std,
  });
  for (const c of ref.cases) {
    const s = preprocessPair(
      rgb,
      mask,
      h,
      w,
      p,
      { hflip: c.hflip, vflip: c.vflip, angle: c.angle },
      "x",
    );
    let ei = 0, em = 0;
    for (let i = 0; i < s.image.length; i++) {
      ei = Math.max(ei, Math.abs(s.image[i] - c.image.data[i]));
    }
    for (let i = 0; i < s.mask.length; i++) em = Math.max(em, Math.abs(s.mask[i] - c.mask.data[i]));
    // Measured: image 5.1e-6 (float32 storage of values up to 255), mask 2.0e-8.
    assert.ok(
      ei < 3e-5 && em < 1e-6,
      `${JSON.stringify([c.hflip, c.vflip, c.angle])}: image ${ei}, mask ${em}`,
    );
  }
});
