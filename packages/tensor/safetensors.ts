/**
 * Read and write the safetensors format (an 8-byte little-endian header length, a JSON
 * header naming each tensor's dtype, shape and byte range, then the raw little-endian data).
 * Pure TypeScript: no GPU needed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSafetensors, serializeSafetensors } from "@vmunet/tensor/safetensors";
 * const bytes = serializeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * const file = parseSafetensors(bytes);
 * assert.deepEqual(file.get("w").shape, [2]);
 * ```
 *
 * @module
 */

/** The dtypes of the safetensors format. */
export type SafetensorsDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U8"
  | "BOOL"
  | "U16"
  | "U32"
  | "U64";

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  U16: 2,
  U32: 4,
  U64: 8,
};

/** The typed array that holds each dtype stored as is (little-endian, as JavaScript's). */
const TYPED_ARRAY = {
  F64: Float64Array,
  F32: Float32Array,
  I32: Int32Array,
  U32: Uint32Array,
  I16: Int16Array,
  U16: Uint16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
} as const;

function storedAsIs(dtype: SafetensorsDtype): dtype is keyof typeof TYPED_ARRAY {
  return dtype in TYPED_ARRAY;
}

/** Raised for a malformed, truncated or inconsistent safetensors file or a missing key. */
export class SafetensorsError extends Error {
  /** Creates the error; `source` names the file (or `<bytes>`). */
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = "SafetensorsError";
  }
}

/** One tensor of a parsed file: its dtype, shape and raw little-endian bytes. */
export interface SafetensorsEntry {
  /** Key in the file. */
  readonly name: string;
  /** Element type. */
  readonly dtype: SafetensorsDtype;
  /** Shape, outermost first. */
  readonly shape: readonly number[];
  /** The raw bytes (a view into the file). */
  readonly bytes: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** Where it came from (a path, or `<bytes>`). */
  readonly source: string;
  /** The `__metadata__` strings. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor, by key, in header order. */
  readonly tensors: ReadonlyMap<string, SafetensorsEntry>;
  /** Whether the file holds `name`. */
  has(name: string): boolean;
  /** The entry for `name`; throws {@linkcode SafetensorsError} naming the key if absent. */
  get(name: string): SafetensorsEntry;
  /** The values of `name` converted to float32 (any numeric dtype). */
  float32(name: string): Float32Array;
  /** The values of `name` converted to float64 (any numeric dtype). */
  float64(name: string): Float64Array;
  /** The values of `name` as int32 (integer or bool dtypes; floats must be integral). */
  int32(name: string): Int32Array;
}

/** A tensor to write: dtype, shape and its values. */
export interface SafetensorsInput {
  /** Element type to store. */
  dtype: "F32" | "F64" | "I32" | "I64" | "U8";
  /** Shape; its product must equal the number of values. */
  shape: readonly number[];
  /** Values (converted to `dtype` on write). */
  data: ArrayLike<number> | BigInt64Array;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/**
 * Parses a safetensors file held in memory, validating the header against the file size
 * before touching any tensor data.
 *
 * @param bytes The whole file.
 * @param source Name used in error messages (the path).
 * @returns The parsed file (tensor bytes are views into `bytes`).
 * @throws {SafetensorsError} on a truncated or inconsistent file.
 */
export function parseSafetensors(bytes: Uint8Array, source = "<bytes>"): SafetensorsFile {
  if (bytes.byteLength < 8) throw new SafetensorsError(source, "file shorter than 8 bytes");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8 || headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(
      source,
      `header claims ${headerLength} bytes but the file has ${
        bytes.byteLength - 8
      } after the length`,
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    throw new SafetensorsError(source, `header is not valid JSON (${String(error)})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new SafetensorsError(source, "header is not a JSON object");
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsEntry>();
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        metadata[k] = String(v);
      }
      continue;
    }
    const info = value as { dtype?: string; shape?: unknown; data_offsets?: unknown };
    const dtype = info.dtype as SafetensorsDtype;
    if (!(dtype in DTYPE_BYTES)) {
      throw new SafetensorsError(source, `tensor "${name}" has unknown dtype ${info.dtype}`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(source, `tensor "${name}" has an invalid shape`);
    }
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      throw new SafetensorsError(source, `tensor "${name}" has no data_offsets`);
    }
    const [begin, end] = offsets as number[];
    const count = shape.reduce((a: number, b: number) => a * b, 1);
    if (!(begin >= 0 && end >= begin && end <= dataLength)) {
      throw new SafetensorsError(
        source,
        `tensor "${name}" claims bytes [${begin}, ${end}) but the data section has ${dataLength}`,
      );
    }
    if (end - begin !== count * DTYPE_BYTES[dtype]) {
      throw new SafetensorsError(
        source,
        `tensor "${name}" of shape [${shape}] ${dtype} needs ${
          count * DTYPE_BYTES[dtype]
        } bytes, the header gives ${end - begin}`,
      );
    }
    tensors.set(name, {
      name,
      dtype,
      shape: shape as number[],
      bytes: bytes.subarray(dataStart + begin, dataStart + end),
    });
  }
  const get = (name: string): SafetensorsEntry => {
    const entry = tensors.get(name);
    if (!entry) throw new SafetensorsError(source, `no tensor named "${name}"`);
    return entry;
  };
  return {
    source,
    metadata,
    tensors,
    has: (name) => tensors.has(name),
    get,
    float32: (name) => Float32Array.from(decodeValues(get(name))),
    float64: (name) => Float64Array.from(decodeValues(get(name))),
    int32: (name) => {
      const entry = get(name);
      const values = decodeValues(entry);
      const out = new Int32Array(values.length);
      for (let i = 0; i < values.length; i++) {
        if (!Number.isInteger(values[i])) {
          throw new SafetensorsError(source, `tensor "${name}" holds non-integer ${values[i]}`);
        }
        out[i] = values[i];
      }
      return out;
    },
  };
}

function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * Decodes an entry's little-endian bytes into numbers (64-bit integers become numbers).
 *
 * @param entry A parsed tensor.
 * @returns Its values in row-major order.
 */
export function decodeValues(entry: SafetensorsEntry): ArrayLike<number> {
  const { bytes, dtype } = entry;
  // Copy so that the typed array is aligned whatever the tensor's offset in the file.
  const buffer = bytes.slice().buffer;
  if (storedAsIs(dtype)) return new TYPED_ARRAY[dtype](buffer);
  switch (dtype) {
    case "I64":
      return Array.from(new BigInt64Array(buffer), Number);
    case "U64":
      return Array.from(new BigUint64Array(buffer), Number);
    case "F16":
      return Array.from(new Uint16Array(buffer), f16ToNumber);
    case "BF16": {
      const halves = new Uint16Array(buffer);
      const words = new Uint32Array(halves.length);
      for (let i = 0; i < halves.length; i++) words[i] = halves[i] << 16;
      return new Float32Array(words.buffer);
    }
  }
}

/**
 * Serialises tensors (and string metadata) into a safetensors file, keys sorted as the
 * reference implementation writes them and the header padded to 8 bytes.
 *
 * @param tensors Tensors by key.
 * @param metadata Optional `__metadata__` strings.
 * @returns The file's bytes.
 */
export function serializeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new SafetensorsError(
        "<write>",
        `tensor "${name}" has shape [${t.shape}] (${count} values) but ${t.data.length} values`,
      );
    }
    const blob = new Uint8Array(
      t.dtype === "I64"
        ? (t.data instanceof BigInt64Array
          ? t.data
          : BigInt64Array.from(Array.from(t.data as ArrayLike<number>, (v) => BigInt(v))))
          .buffer
        : TYPED_ARRAY[t.dtype].from(t.data as ArrayLike<number>).buffer,
    );
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + blob.length] };
    blobs.push(blob);
    offset += blob.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((new TextEncoder().encode(json).length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const blob of blobs) {
    out.set(blob, at);
    at += blob.length;
  }
  return out;
}
