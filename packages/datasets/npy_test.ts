import assert from "node:assert/strict";
import { DecodeError, MissingKeyError } from "./errors.ts";
import { encodeNpy, encodeNpz, parseNpy, readNpz } from "./npy.ts";
import { loadReference } from "./_reference.ts";

const ref = loadReference().numpy_files;
const testdata = (name: string) =>
  Deno.readFileSync(new URL(`./testdata/${name}`, import.meta.url));

Deno.test("readNpz() reads np.savez and np.savez_compressed archives written by numpy", () => {
  for (const name of ["numpy_slice.npz", "numpy_slice_compressed.npz"]) {
    const z = readNpz(testdata(name), name, ["image", "label"]);
    assert.deepEqual(z.image.shape, [6, 7]);
    assert.equal(z.image.dtype, "float32");
    assert.deepEqual(Array.from(z.image.data), ref.slice_image.data.map(Math.fround));
    assert.deepEqual(Array.from(z.label.data), ref.slice_label.data);
  }
});

Deno.test("parseNpy() reads big-endian Fortran-order arrays into C order", () => {
  const a = parseNpy(testdata("numpy_fortran.npy"), "numpy_fortran.npy");
  assert.equal(a.dtype, "int32");
  assert.deepEqual(a.shape, [3, 4]);
  assert.deepEqual(Array.from(a.data), ref.fortran.data);
});

Deno.test("parseNpy() reads little- and big-endian 64-bit integers as their values", () => {
  // np.array([3, -5, 2**53], dtype="<i8") and dtype=">u8" [7, 2**40]: headers written by hand
  // (encodeNpy does not write 64-bit integers); the bytes are numpy's.
  const npy = (descr: string, values: bigint[], littleEndian: boolean, signed: boolean) => {
    let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${values.length},), }`;
    header += " ".repeat((64 - ((10 + header.length + 1) % 64)) % 64) + "\n";
    const head = new TextEncoder().encode(header);
    const bytes = new Uint8Array(10 + head.length + 8 * values.length);
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const view = new DataView(bytes.buffer);
    view.setUint16(8, head.length, true);
    bytes.set(head, 10);
    values.forEach((v, i) => {
      const at = 10 + head.length + 8 * i;
      if (signed) view.setBigInt64(at, v, littleEndian);
      else view.setBigUint64(at, v, littleEndian);
    });
    return bytes;
  };
  const i8 = parseNpy(npy("<i8", [3n, -5n, 2n ** 53n], true, true), "i8.npy");
  assert.equal(i8.dtype, "int64");
  assert.deepEqual(Array.from(i8.data), [3, -5, 2 ** 53]);
  const u8 = parseNpy(npy(">u8", [7n, 2n ** 40n], false, false), "u8.npy");
  assert.equal(u8.dtype, "uint64");
  assert.deepEqual(Array.from(u8.data), [7, 2 ** 40]);
});

Deno.test("encodeNpy/encodeNpz round-trip every writable dtype", () => {
  const arrays = {
    f4: { dtype: "float32", shape: [2, 3], data: new Float32Array([1.5, -2, 3, 4, 5, 6]) },
    f8: { dtype: "float64", shape: [1], data: new Float64Array([Math.PI]) },
    u1: { dtype: "uint8", shape: [3], data: new Uint8Array([0, 128, 255]) },
    i2: { dtype: "int16", shape: [2], data: new Int16Array([-300, 300]) },
    i4: { dtype: "int32", shape: [], data: new Int32Array([-7]) },
  };
  const z = readNpz(encodeNpz(arrays), "round.npz");
  for (const [k, a] of Object.entries(arrays)) {
    assert.equal(z[k].dtype, a.dtype);
    assert.deepEqual(z[k].shape, a.shape);
    assert.deepEqual(Array.from(z[k].data), Array.from(a.data));
  }
});

Deno.test("bad .npy/.npz input raises typed errors naming the file and key", () => {
  const npz = testdata("numpy_slice.npz");
  assert.throws(
    () => readNpz(npz.subarray(0, 400), "case0005_slice001.npz"),
    (e) =>
      e instanceof DecodeError && /case0005_slice001\.npz: corrupt or truncated/.test(e.message),
  );
  assert.throws(
    () => readNpz(npz, "s.npz", ["image", "mask"]),
    (e) =>
      e instanceof MissingKeyError && e.key === "mask" &&
      /s\.npz: key "mask" is missing \(members: image\.npy, label\.npy\)/.test(e.message),
  );
  const npy = encodeNpy({ dtype: "float32", shape: [4], data: new Float32Array(4) });
  assert.throws(
    () => parseNpy(npy.subarray(0, npy.length - 1), "t.npy"),
    (e) => e instanceof DecodeError && /t\.npy: truncated \.npy data/.test(e.message),
  );
  assert.throws(
    () => parseNpy(new Uint8Array(20), "z.npy"),
    (e) => e instanceof DecodeError && /bad magic/.test(e.message),
  );
  const complex = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const header = new TextEncoder().encode(
    "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n",
  );
  const bytes = new Uint8Array(10 + header.length + 8);
  bytes.set(complex);
  new DataView(bytes.buffer).setUint16(8, header.length, true);
  bytes.set(header, 10);
  assert.throws(
    () => parseNpy(bytes, "c.npy"),
    (e) => e instanceof DecodeError && /unsupported dtype '<c8'/.test(e.message),
  );
});
