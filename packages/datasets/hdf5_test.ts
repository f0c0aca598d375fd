import assert from "node:assert/strict";
import { DecodeError, MissingKeyError } from "./errors.ts";
import { readHdf5, writeHdf5 } from "./hdf5.ts";
import { loadReference } from "./_reference.ts";

const ref = loadReference().numpy_files;
const fixture = new URL("./testdata/h5py_volume.h5", import.meta.url).pathname;

Deno.test("readHdf5() reads a (D,H,W) volume written by h5py", async () => {
  const { image, label } = await readHdf5(fixture, ["image", "label"]);
  assert.deepEqual(image.shape, [3, 6, 7]);
  assert.equal(image.dtype, "float32");
  assert.deepEqual(Array.from(image.data), ref.volume_image.data.map(Math.fround));
  assert.deepEqual(Array.from(label.data), ref.volume_label.data);
});

Deno.test("writeHdf5() then readHdf5() round-trips float32 and int32 arrays under Deno", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/case0001.npy.h5`;
    const image = new Float32Array(2 * 3 * 4).map((_, i) => i / 7);
    const label = new Int32Array(2 * 3 * 4).map((_, i) => i % 9);
    await writeHdf5(path, {
      image: { dtype: "float32", shape: [2, 3, 4], data: image },
      label: { dtype: "int32", shape: [2, 3, 4], data: label },
    });
    const r = await readHdf5(path, ["image", "label"]);
    assert.deepEqual(r.image.data, image);
    assert.deepEqual(r.label.data, label);
    assert.deepEqual(r.label.shape, [2, 3, 4]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readHdf5() raises typed errors for a missing key, a truncated file and a non-HDF5 file", async () => {
  await assert.rejects(
    readHdf5(fixture, ["image", "segmentation"]),
    (e) =>
      e instanceof MissingKeyError && e.key === "segmentation" &&
      /h5py_volume\.h5: key "segmentation" is missing \(datasets: image, label\)/.test(e.message),
  );
  const dir = await Deno.makeTempDir();
  try {
    const cut = `${dir}/cut.npy.h5`;
    await Deno.writeFile(cut, Deno.readFileSync(fixture).subarray(0, 1500));
    await assert.rejects(
      readHdf5(cut, ["image"]),
      (e) => e instanceof DecodeError && e.file === cut && /truncated/.test(e.message),
    );
    const junk = `${dir}/junk.h5`;
    await Deno.writeTextFile(junk, "not hdf5 at all");
    await assert.rejects(
      readHdf5(junk, ["image"]),
      (e) => e instanceof DecodeError && /junk\.h5: not an HDF5 file/.test(e.message),
    );
    await assert.rejects(
      readHdf5(`${dir}/absent.h5`, ["image"]),
      (e) => e instanceof DecodeError && /absent\.h5: cannot read/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
