import assert from "node:assert/strict";
import { withTempDir } from "../../tools/testing.ts";
import { loadReference } from "./_reference.ts";
import { zipSync } from "fflate";
import { ZipReader } from "./_zip.ts";
import { DatasetLayoutError, DecodeError, MissingKeyError } from "./errors.ts";
import { writeHdf5 } from "./hdf5.ts";
import { encodeNpy, encodeNpz, type NdArray } from "./npy.ts";
import {
  drawSynapseAugmentation,
  openSynapse,
  openSynapseVolumes,
  transformSynapseSlice,
  volumeSlices,
  zoomLabelsBack,
} from "./synapse.ts";

const N = 32;

function slicePixels(seed: number): { image: Float32Array; label: Float32Array } {
  const label = new Float32Array(N * N).map((_, i) =>
    ((i % N) >> 2) % 9 === seed % 9 ? 0 : ((i % N) + (i / N | 0) * seed) % 9
  );
  return { image: label.map((v) => v / 8), label };
}

async function synapseLayout(root: string): Promise<void> {
  await Deno.mkdir(`${root}/train_npz`, { recursive: true });
  await Deno.mkdir(`${root}/test_vol_h5`);
  await Deno.mkdir(`${root}/lists/lists_Synapse`, { recursive: true });
  const names: string[] = [];
  for (let s = 0; s < 4; s++) {
    const name = `case0005_slice${String(s).padStart(3, "0")}`;
    const { image, label } = slicePixels(s);
    await Deno.writeFile(
      `${root}/train_npz/${name}.npz`,
      encodeNpz({
        image: { dtype: "float32", shape: [N, N], data: image },
        label: { dtype: "float32", shape: [N, N], data: label },
      }),
    );
    names.push(name);
  }
  await Deno.writeTextFile(`${root}/lists/lists_Synapse/train.txt`, names.join("\n") + "\n");
  for (const c of ["case0001", "case0002"]) {
    const label = new Float32Array(3 * N * N).map((_, i) => i % 9);
    await writeHdf5(`${root}/test_vol_h5/${c}.npy.h5`, {
      image: { dtype: "float32", shape: [3, N, N], data: label.map((v) => v / 8) },
      label: { dtype: "float32", shape: [3, N, N], data: label },
    });
  }
  await Deno.writeTextFile(`${root}/lists/lists_Synapse/test_vol.txt`, "case0001\ncase0002\n");
}

Deno.test("Synapse slices: (1,S,S) float images and Int32 labels in 0..8, same seed same sample", async () => {
  await withTempDir("synapse_test_", async (root) => {
    await synapseLayout(root);
    const ds = await openSynapse({ root, size: 16, seed: 5 });
    const again = await openSynapse({ root, size: 16, seed: 5 });
    assert.equal(ds.length, 4);
    assert.equal(ds.numClasses, 9);
    for (let i = 0; i < ds.length; i++) {
      const s = await ds.get(i, 1);
      assert.deepEqual([s.channels, s.height, s.width], [1, 16, 16]);
      assert.ok(s.mask instanceof Int32Array && s.mask.every((v) => v >= 0 && v <= 8));
      assert.ok(s.image.every((v) => Number.isFinite(v) && v > -0.5 && v < 1.5));
      assert.deepEqual(s.image, (await again.get(i, 1)).image);
    }
    const rgb = await (await openSynapse({ root, size: 16, channels: 3, augment: false })).get(0);
    assert.equal(rgb.image.length, 3 * 256);
    assert.deepEqual(rgb.image.subarray(0, 256), rgb.image.subarray(512, 768));
  });
});

Deno.test("Synapse augmentation moves image and labels together (rot90+flip and ±20° rotation)", () => {
  const { image, label } = slicePixels(3);
  const labels = Int32Array.from(label);
  const kinds = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const aug = drawSynapseAugmentation(1, 0, i);
    kinds.add(aug.kind);
    const out = transformSynapseSlice(image, labels, N, N, aug, N);
    for (let p = 0; p < N * N; p++) {
      assert.equal(Math.round(out.image[p] * 8), out.label[p], `${aug.kind} pixel ${p}`);
    }
    assert.ok(out.label.every((v) => v >= 0 && v <= 8));
  }
  assert.deepEqual([...kinds].sort(), ["none", "rot-flip", "rotate"]);
});

Deno.test("Synapse augmentation frequencies follow RandomGenerator: 1/2 rot-flip, 1/4 rotate, angles −20..19", () => {
  const count: Record<string, number> = { "rot-flip": 0, rotate: 0, none: 0 };
  const angles = new Set<number>();
  for (let i = 0; i < 4000; i++) {
    const a = drawSynapseAugmentation(42, 3, i);
    count[a.kind]++;
    if (a.kind === "rotate") angles.add(a.angle);
  }
  assert.ok(Math.abs(count["rot-flip"] / 4000 - 0.5) < 0.03);
  assert.ok(Math.abs(count.rotate / 4000 - 0.25) < 0.03);
  assert.equal(Math.min(...angles), -20);
  assert.equal(Math.max(...angles), 19);
});

Deno.test("Synapse test volumes iterate slice by slice at 224-style size with full-size labels", async () => {
  await withTempDir("synapse_test_", async (root) => {
    await synapseLayout(root);
    const vols = await openSynapseVolumes({ root });
    assert.deepEqual(vols.names, ["case0001", "case0002"]);
    const v = await vols.read(1);
    assert.deepEqual([v.depth, v.height, v.width], [3, N, N]);
    const slices = [...volumeSlices(v, 16)];
    assert.equal(slices.length, 3);
    assert.equal(slices[2].image.length, 256);
    assert.equal(slices[2].label.length, N * N);
    assert.deepEqual(Array.from(slices[1].label.subarray(0, 4)), [
      (N * N) % 9,
      (N * N + 1) % 9,
      (N * N + 2) % 9,
      (N * N + 3) % 9,
    ]);
    assert.equal(zoomLabelsBack(new Int32Array(256).fill(7), 16, N, N).length, N * N);
  });
});

Deno.test("Synapse errors when read unchecked (validate: false): missing HDF5 key, npz without label; listed slice without file", async () => {
  await withTempDir("synapse_test_", async (root) => {
    await synapseLayout(root);
    await writeHdf5(`${root}/test_vol_h5/case0002.npy.h5`, {
      image: { dtype: "float32", shape: [1, 2, 2], data: new Float32Array(4) },
    });
    const vols = await openSynapseVolumes({ root, validate: false });
    await assert.rejects(
      vols.read(1),
      (e) =>
        e instanceof MissingKeyError && e.key === "label" &&
        /case0002\.npy\.h5: key "label" is missing/.test(e.message),
    );
    await Deno.writeFile(
      `${root}/train_npz/case0005_slice001.npz`,
      encodeNpz({ image: { dtype: "float32", shape: [2, 2], data: new Float32Array(4) } }),
    );
    const ds = await openSynapse({ root, size: 8, validate: false });
    await assert.rejects(
      ds.get(1),
      (e) =>
        e instanceof MissingKeyError &&
        /case0005_slice001\.npz: key "label" is missing/.test(e.message),
    );
    await Deno.writeTextFile(
      `${root}/lists/lists_Synapse/train.txt`,
      "case0005_slice000\ncase0099_slice007\n",
    );
    await assert.rejects(
      openSynapse({ root }),
      (e) =>
        e instanceof DatasetLayoutError &&
        /case0099_slice007\.npz: slice "case0099_slice007" from the list has no \.npz file/.test(
          e.message,
        ),
    );
  });
});

const f32 = (shape: number[], fill = 0.5): NdArray => ({
  dtype: "float32",
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill),
});

Deno.test("openSynapse() checks every slice's headers: keys, shapes, dtype, corrupt zip or npy", async () => {
  await withTempDir("synapse_test_", async (root) => {
    await synapseLayout(root);
    const bad = `${root}/train_npz/case0005_slice002.npz`;
    // Real numpy files pass: np.savez (stored) and np.savez_compressed (deflated), 6×7.
    for (const name of ["numpy_slice.npz", "numpy_slice_compressed.npz"]) {
      await Deno.copyFile(new URL(`./testdata/${name}`, import.meta.url), bad);
      const ds = await openSynapse({ root, size: 8 });
      assert.equal((await ds.get(2)).mask.length, 64);
      assert.equal(ds.spec.options.validate, false); // workers do not check again
    }
    const npy = (a: NdArray) => encodeNpy(a);
    const cases: [string, Uint8Array, (e: unknown) => boolean][] = [
      [
        "no label",
        encodeNpz({ image: f32([N, N]) }),
        (e) =>
          e instanceof MissingKeyError && e.file === bad && e.key === "label" &&
          /slice002\.npz: key "label" is missing \(members: image\.npy\)/.test(e.message),
      ],
      [
        "label shape differs",
        encodeNpz({ image: f32([N, N]), label: f32([N, N - 1], 1) }),
        (e) =>
          e instanceof MissingKeyError && e.file === bad && e.key === "label" &&
          /key "label" has shape \(32,31\), image has \(32,32\)/.test(e.message),
      ],
      [
        "3-D image",
        encodeNpz({ image: f32([1, N, N]), label: f32([1, N, N], 1) }),
        (e) =>
          e instanceof MissingKeyError && e.key === "image" &&
          /key "image" must be 2-D \(H,W\), got shape \(1,32,32\)/.test(e.message),
      ],
      [
        "npy header longer than 128 bytes (deflated)",
        encodeNpz({ image: f32(Array(40).fill(1)), label: f32([N, N], 1) }),
        (e) =>
          e instanceof MissingKeyError && e.key === "image" &&
          new RegExp(`must be 2-D \\(H,W\\), got shape \\(${Array(40).fill(1)}\\)`).test(e.message),
      ],
      [
        "integer image",
        encodeNpz({
          image: { dtype: "uint8", shape: [N, N], data: new Uint8Array(N * N) },
          label: f32([N, N], 1),
        }),
        (e) =>
          e instanceof MissingKeyError && e.key === "image" &&
          /key "image" has dtype uint8; Synapse images are float/.test(e.message),
      ],
      [
        "truncated file",
        encodeNpz({ image: f32([N, N]), label: f32([N, N], 1) }).subarray(0, 300),
        (e) =>
          e instanceof DecodeError && e.file === bad &&
          /not a zip archive or truncated/.test(e.message),
      ],
      [
        "truncated npy data (stored)",
        zipSync({
          "image.npy": npy(f32([N, N])).subarray(0, 128 + 4 * N * N - 8),
          "label.npy": npy(f32([N, N], 1)),
        }, { level: 0 }),
        (e) =>
          e instanceof DecodeError && e.file === `${bad}:image.npy` &&
          /truncated \.npy data: 4088 bytes for shape \(32,32\) float32 \(4096 bytes\)/
            .test(e.message),
      ],
      [
        "not an npy member",
        zipSync({ "image.npy": npy(f32([N, N])), "label.npy": new Uint8Array(64).fill(7) }),
        (e) =>
          e instanceof DecodeError && e.file === `${bad}:label.npy` &&
          /not a \.npy file \(bad magic\)/.test(e.message),
      ],
    ];
    for (const [what, bytes, check] of cases) {
      await Deno.writeFile(bad, bytes);
      await assert.rejects(openSynapse({ root }), check, what);
    }
  });
});

Deno.test("openSynapseVolumes() checks every volume's HDF5 headers: keys, shapes, dtype", async () => {
  await withTempDir("synapse_test_", async (root) => {
    await synapseLayout(root);
    const bad = `${root}/test_vol_h5/case0002.npy.h5`;
    await writeHdf5(bad, { image: f32([3, N, N]) });
    await assert.rejects(
      openSynapseVolumes({ root }),
      (e) =>
        e instanceof MissingKeyError && e.file === bad && e.key === "label" &&
        /case0002\.npy\.h5: key "label" is missing \(datasets: image\)/.test(e.message),
    );
    await writeHdf5(bad, { image: f32([3, N, N]), label: f32([2, N, N], 1) });
    await assert.rejects(
      openSynapseVolumes({ root }),
      (e) =>
        e instanceof MissingKeyError && e.key === "label" &&
        /key "label" has shape \(2,32,32\), image has \(3,32,32\)/.test(e.message),
    );
    await Deno.writeFile(bad, new Uint8Array(100));
    await assert.rejects(
      openSynapseVolumes({ root }),
      (e) => e instanceof DecodeError && e.file === bad && /not an HDF5 file/.test(e.message),
    );
  });
});

Deno.test("ZipReader.readHead() returns an entry's first bytes, stored or deflated, inflating only a prefix", async () => {
  await withTempDir("synapse_test_", async (root) => {
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 2654435761) >>> 24);
    for (const level of [0, 6] as const) {
      await Deno.writeFile(`${root}/a.zip`, zipSync({ "a.bin": data }, { level }));
      const zip = await ZipReader.open(`${root}/a.zip`);
      try {
        const [entry] = zip.entries;
        assert.deepEqual(await zip.readHead(entry, 100), data.subarray(0, 100));
        assert.deepEqual(await zip.readHead(entry, 70000), data.subarray(0, 70000));
        assert.equal((await zip.readHead(entry, 2 << 20)).length, 1 << 20);
      } finally {
        zip.close();
      }
    }
    // The second half of the deflate stream is garbage: the whole entry cannot be read, its
    // head still can (only a prefix was inflated).
    const bytes = zipSync({ "a.bin": data }, { level: 6 });
    const zip0 = await ZipReader.open(`${root}/a.zip`);
    const size = zip0.entries[0].compressedSize;
    zip0.close();
    bytes.fill(0xff, 35 + (size >> 1), 35 + size);
    await Deno.writeFile(`${root}/a.zip`, bytes);
    const zip = await ZipReader.open(`${root}/a.zip`);
    try {
      const [entry] = zip.entries;
      assert.deepEqual(await zip.readHead(entry, 100), data.subarray(0, 100));
      await assert.rejects(
        zip.read(entry),
        (e) => e instanceof DecodeError && /corrupt zip entry a\.bin/.test(e.message),
      );
    } finally {
      zip.close();
    }
  });
});

Deno.test("transformSynapseSlice() matches numpy rot90/flip, ndimage.rotate and zoom (max error 1e-6)", () => {
  // Reference: testdata/make_reference.py §10 (numpy / scipy 1.10), float32 outputs.
  const ref = loadReference().synapse_chain;
  const [h, w] = ref.image.shape;
  const image = Float32Array.from(ref.image.data as number[]);
  const label = Int32Array.from(ref.label.data as number[]);
  for (const c of ref.cases) {
    const out = transformSynapseSlice(image, label, h, w, {
      kind: c.kind,
      k: c.k,
      axis: c.axis,
      angle: c.angle,
    }, ref.size);
    let e = 0;
    for (let i = 0; i < out.image.length; i++) {
      e = Math.max(e, Math.abs(out.image[i] - c.image.data[i]));
    }
    assert.ok(e < 1e-6, `${c.kind} k=${c.k} axis=${c.axis} angle=${c.angle}: image error ${e}`);
    assert.deepEqual(
      Array.from(out.label),
      c.label.data,
      `${c.kind} k=${c.k} axis=${c.axis} angle=${c.angle}: labels`,
    );
  }
});
