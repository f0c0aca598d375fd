/**
 * NumPy `.npy` arrays (own parser: format versions 1–3, little/big endian, C and Fortran order)
 * and `.npz` archives (zip, stored or deflated, zip64 as `np.savez` writes it, via `fflate`).
 *
 * @module
 */

import { unzipSync, zipSync } from "fflate";
import { DecodeError, MissingKeyError } from "./errors.ts";

/** The typed arrays an {@linkcode NdArray} can hold. */
export type NdData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

/** An n-dimensional array in C (row-major) order. */
export interface NdArray {
  /** NumPy dtype name: `float32`, `float64`, `int8`, `uint8`, `bool`, `int16`, `uint16`,
   * `int32`, `uint32`, `int64` or `uint64` (64-bit integers are held as Float64Array). */
  dtype: string;
  /** Dimensions. */
  shape: number[];
  /** Values in C order. */
  data: NdData;
}

interface DtypeInfo {
  name: string;
  size: number;
  read: (v: DataView, o: number, le: boolean) => number;
  make: (n: number) => NdData;
  /** Whether the array holds the file's bytes as they are (not so for 64-bit integers). */
  verbatim: boolean;
}

/** A dtype held in its own typed array `ArrayType`, element by element as in the file. */
function dtype(
  name: string,
  ArrayType: { new (n: number): NdData; readonly BYTES_PER_ELEMENT: number },
  read: DtypeInfo["read"],
): DtypeInfo {
  const size = ArrayType.BYTES_PER_ELEMENT;
  return { name, size, read, make: (n) => new ArrayType(n), verbatim: true };
}

/** A 64-bit integer dtype, held as float64 values (exact up to 2^53). */
function int64(name: string, read: DtypeInfo["read"]): DtypeInfo {
  return { name, size: 8, read, make: (n) => new Float64Array(n), verbatim: false };
}

/** The dtypes by their `descr` code without the byte-order character. */
const DTYPES: Record<string, DtypeInfo> = {
  f4: dtype("float32", Float32Array, (v, o, le) => v.getFloat32(o, le)),
  f8: dtype("float64", Float64Array, (v, o, le) => v.getFloat64(o, le)),
  i1: dtype("int8", Int8Array, (v, o) => v.getInt8(o)),
  u1: dtype("uint8", Uint8Array, (v, o) => v.getUint8(o)),
  b1: dtype("bool", Uint8Array, (v, o) => v.getUint8(o)),
  i2: dtype("int16", Int16Array, (v, o, le) => v.getInt16(o, le)),
  u2: dtype("uint16", Uint16Array, (v, o, le) => v.getUint16(o, le)),
  i4: dtype("int32", Int32Array, (v, o, le) => v.getInt32(o, le)),
  u4: dtype("uint32", Uint32Array, (v, o, le) => v.getUint32(o, le)),
  i8: int64("int64", (v, o, le) => Number(v.getBigInt64(o, le))),
  u8: int64("uint64", (v, o, le) => Number(v.getBigUint64(o, le))),
};

/** The header of a `.npy` file: what the array holds and where its data starts. */
export interface NpyHeader {
  /** NumPy dtype name, as in {@linkcode NdArray.dtype}. */
  dtype: string;
  /** Dimensions. */
  shape: number[];
  /** Whether the data is in Fortran (column-major) order. */
  fortranOrder: boolean;
  /** Whether the values are little endian. */
  littleEndian: boolean;
  /** Bytes per value. */
  itemSize: number;
  /** Offset of the data: the magic, version, header length and header. */
  dataOffset: number;
  /** Bytes of data the shape and dtype call for. */
  dataBytes: number;
}

function headerBounds(bytes: Uint8Array, file: string): { start: number; end: number } {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || !magic.every((b, i) => bytes[i] === b)) {
    throw new DecodeError(file, "not a .npy file (bad magic)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  if (major === 1) return { start: 10, end: 10 + view.getUint16(8, true) };
  if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new DecodeError(file, "truncated .npy header");
    return { start: 12, end: 12 + view.getUint32(8, true) };
  }
  throw new DecodeError(file, `unsupported .npy format version ${major}`);
}

/**
 * The number of bytes of a `.npy` file up to the end of its header (where the data starts),
 * from the file's first 12 bytes (10 suffice for version 1).
 *
 * @param bytes The start of the file.
 * @param file Name used in error messages.
 * @returns The data offset.
 * @throws {DecodeError} for a bad magic or an unknown format version.
 * @example
 * ```ts
 * import { encodeNpy, npyHeaderLength } from "@vmunet/datasets";
 * const bytes = encodeNpy({ dtype: "uint8", shape: [3], data: new Uint8Array(3) });
 * if (npyHeaderLength(bytes.subarray(0, 12), "a.npy") !== bytes.length - 3) throw new Error();
 * ```
 */
export function npyHeaderLength(bytes: Uint8Array, file: string): number {
  return headerBounds(bytes, file).end;
}

/**
 * Parses the header of a `.npy` file without reading its data: `bytes` needs to hold only
 * the first {@linkcode npyHeaderLength} bytes.
 *
 * @param bytes The start of the file (or all of it).
 * @param file Name used in error messages.
 * @returns The dtype, shape, order and data offset.
 * @throws {DecodeError} for a bad magic, a truncated or malformed header or an unsupported
 * dtype.
 * @example
 * ```ts
 * import { encodeNpy, parseNpyHeader } from "@vmunet/datasets";
 * const bytes = encodeNpy({ dtype: "float32", shape: [2, 3], data: new Float32Array(6) });
 * const h = parseNpyHeader(bytes.subarray(0, 128), "a.npy");
 * if (h.shape.join() !== "2,3" || h.dtype !== "float32" || h.dataBytes !== 24) throw new Error();
 * ```
 */
export function parseNpyHeader(bytes: Uint8Array, file: string): NpyHeader {
  return parseHeader(bytes, file).header;
}

function parseHeader(bytes: Uint8Array, file: string): { header: NpyHeader; info: DtypeInfo } {
  const { start, end } = headerBounds(bytes, file);
  if (end > bytes.length) throw new DecodeError(file, "truncated .npy header");
  const text = new TextDecoder().decode(bytes.subarray(start, end));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new DecodeError(file, `malformed .npy header ${JSON.stringify(text.trim())}`);
  }
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new DecodeError(file, `bad shape (${shapeText}) in .npy header`);
  }
  const order = descr[0];
  const info = DTYPES[descr.slice(1)];
  if (!info || !"<>|=".includes(order)) {
    throw new DecodeError(
      file,
      `unsupported dtype '${descr}' (supported: bool, (u)int8/16/32/64, float32/64)`,
    );
  }
  const head: NpyHeader = {
    dtype: info.name,
    shape,
    fortranOrder: fortran === "True",
    littleEndian: order !== ">",
    itemSize: info.size,
    dataOffset: end,
    dataBytes: shape.reduce((a, b) => a * b, 1) * info.size,
  };
  return { header: head, info };
}

/**
 * Parses a `.npy` file.
 *
 * @param bytes The file's bytes.
 * @param file Name used in error messages.
 * @returns The array in C order.
 * @throws {DecodeError} for a bad magic, header, dtype or a truncated payload.
 * @example
 * ```ts
 * import { encodeNpy, parseNpy } from "@vmunet/datasets";
 * const bytes = encodeNpy({ dtype: "float32", shape: [2], data: new Float32Array([1, 2]) });
 * console.assert(parseNpy(bytes, "a.npy").data[1] === 2);
 * ```
 */
export function parseNpy(bytes: Uint8Array, file: string): NdArray {
  const { header: head, info } = parseHeader(bytes, file);
  const { shape, littleEndian, dataOffset: offset } = head;
  const n = shape.reduce((a, b) => a * b, 1);
  if (offset + head.dataBytes > bytes.length) {
    throw new DecodeError(
      file,
      `truncated .npy data: ${bytes.length - offset} bytes for ${n} × ${info.size}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = info.make(n);
  const nativeLe = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (littleEndian === nativeLe && info.verbatim) {
    const copy = bytes.slice(offset, offset + n * info.size);
    data.set(new (data.constructor as { new (b: ArrayBuffer): NdData })(copy.buffer));
  } else {
    for (let i = 0; i < n; i++) data[i] = info.read(view, offset + i * info.size, littleEndian);
  }
  const array = { dtype: info.name, shape, data };
  return head.fortranOrder ? fortranToC(array) : array;
}

function fortranToC(a: NdArray): NdArray {
  const { shape } = a;
  const n = a.data.length;
  const out = new (a.data.constructor as { new (n: number): NdData })(n);
  const nd = shape.length;
  const idx = new Array(nd).fill(0);
  for (let c = 0; c < n; c++) {
    // idx is the multi-index of C-order position c; its Fortran-order offset:
    let f = 0, stride = 1;
    for (let d = 0; d < nd; d++) {
      f += idx[d] * stride;
      stride *= shape[d];
    }
    out[c] = a.data[f];
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { dtype: a.dtype, shape, data: out };
}

/** The `descr` each writable dtype is written with (64-bit integers are not written). */
const DESCR: Record<string, string> = {};
for (const [code, d] of Object.entries(DTYPES)) {
  if (d.verbatim) DESCR[d.name] = `${d.size === 1 ? "|" : "<"}${code}`;
}

/**
 * Writes an array as a version 1.0 `.npy` file (little endian, C order).
 *
 * @param array The array (64-bit integer dtypes are not written).
 * @returns The file's bytes.
 * @example
 * ```ts
 * import { encodeNpy } from "@vmunet/datasets";
 * console.assert(encodeNpy({ dtype: "uint8", shape: [1], data: new Uint8Array([5]) })[0] === 0x93);
 * ```
 */
export function encodeNpy(array: NdArray): Uint8Array {
  const descr = DESCR[array.dtype];
  if (!descr) throw new DecodeError("(npy writer)", `cannot write dtype ${array.dtype}`);
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const head = new TextEncoder().encode(header);
  const body = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  const out = new Uint8Array(10 + head.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, head.length, true);
  out.set(head, 10);
  out.set(body, 10 + head.length);
  return out;
}

/**
 * Reads a `.npz` archive (as written by `np.savez` / `np.savez_compressed`).
 *
 * @param bytes The archive's bytes.
 * @param file Name used in error messages.
 * @param keys Members to read (without `.npy`); all members by default.
 * @returns The arrays by key.
 * @throws {DecodeError} for a corrupt archive or member; {@linkcode MissingKeyError} for a
 * requested key that is absent.
 * @example
 * ```ts
 * import { encodeNpz, readNpz } from "@vmunet/datasets";
 * const z = encodeNpz({ image: { dtype: "float32", shape: [1], data: new Float32Array([3]) } });
 * console.assert(readNpz(z, "a.npz", ["image"]).image.data[0] === 3);
 * ```
 */
export function readNpz(
  bytes: Uint8Array,
  file: string,
  keys?: readonly string[],
): Record<string, NdArray> {
  let entries: Record<string, Uint8Array>;
  const members: string[] = [];
  try {
    const wanted = keys ? new Set(keys.map((k) => `${k}.npy`)) : null;
    entries = unzipSync(bytes, {
      filter: (f) => {
        members.push(f.name);
        return wanted === null || wanted.has(f.name);
      },
    });
  } catch (e) {
    throw new DecodeError(file, `corrupt or truncated .npz (zip): ${(e as Error).message}`, {
      cause: e,
    });
  }
  const out: Record<string, NdArray> = {};
  for (const [name, data] of Object.entries(entries)) {
    if (!name.endsWith(".npy")) continue;
    const key = name.slice(0, -4);
    out[key] = parseNpy(data, `${file}:${name}`);
  }
  for (const k of keys ?? []) {
    if (!(k in out)) {
      throw new MissingKeyError(file, k, `is missing (members: ${members.join(", ") || "none"})`);
    }
  }
  return out;
}

/**
 * Writes arrays as an `.npz` archive (deflated like `np.savez_compressed`).
 *
 * @param arrays The arrays by key.
 * @returns The archive's bytes.
 * @example
 * ```ts
 * import { encodeNpz } from "@vmunet/datasets";
 * console.assert(encodeNpz({ a: { dtype: "uint8", shape: [1], data: new Uint8Array([1]) } })[0] === 0x50);
 * ```
 */
export function encodeNpz(arrays: Record<string, NdArray>): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [k, a] of Object.entries(arrays)) files[`${k}.npy`] = encodeNpy(a);
  return zipSync(files, { level: 6 });
}
