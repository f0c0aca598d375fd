import assert from "node:assert/strict";
import { DatasetLayoutError, MissingKeyError } from "./errors.ts";
import { writeHdf5 } from "./hdf5.ts";
import { encodeNpz } from "./npy.ts";
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

async function withTemp(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "synapse_test_" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("Synapse slices: (1,S,S) float images and Int32 labels in 0..8, same seed same sample", async () => {
  await withTemp(async (root) => {
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
  await withTemp(async (root) => {
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

Deno.test("Synapse errors: missing HDF5 key, listed slice without file, npz without label", async () => {
  await withTemp(async (root) => {
    await synapseLayout(root);
    await writeHdf5(`${root}/test_vol_h5/case0002.npy.h5`, {
      image: { dtype: "float32", shape: [1, 2, 2], data: new Float32Array(4) },
    });
    const vols = await openSynapseVolumes({ root });
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
    const ds = await openSynapse({ root, size: 8 });
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
        /case0099_slice007\.npz: slice "case0099_slice007" from the list has no npz file/.test(
          e.message,
        ),
    );
  });
});

Deno.test("transformSynapseSlice() matches numpy rot90/flip, ndimage.rotate and zoom (max error 1e-6)", () => {
  // Reference: testdata/make_reference.py §10 (numpy / scipy 1.10), float32 outputs.
  const ref =
    JSON.parse(Deno.readTextFileSync(new URL("./testdata/reference.json", import.meta.url)))
      .synapse_chain;
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
