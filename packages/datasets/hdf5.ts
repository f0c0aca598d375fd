/**
 * HDF5 reading (and writing, for tests and tools) through `h5wasm`'s Node build, which works
 * under Deno with real file paths. Used for the Synapse test volumes `caseXXXX.npy.h5`.
 *
 * @module
 */

import { DecodeError, MissingKeyError } from "./errors.ts";
import type { NdArray, NdData } from "./npy.ts";

type H5 = typeof import("h5wasm/node").default;

let ready: Promise<H5> | null = null;

/**
 * Loads the HDF5 wasm module once, on first use (workers that never read HDF5 skip it); HDF5
 * errors then throw instead of printing to stderr.
 */
function init(): Promise<H5> {
  ready ??= import("h5wasm/node").then(async ({ default: h5wasm }) => {
    const m = await h5wasm.ready;
    (m as unknown as { activate_throwing_error_handler(): number })
      .activate_throwing_error_handler();
    return h5wasm;
  });
  return ready;
}

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

async function checkSignature(path: string): Promise<void> {
  let head: Uint8Array;
  try {
    const f = await Deno.open(path, { read: true });
    try {
      head = new Uint8Array(2056);
      let got = 0;
      while (got < head.length) {
        const n = await f.read(head.subarray(got));
        if (n === null) break;
        got += n;
      }
      head = head.subarray(0, got);
    } finally {
      f.close();
    }
  } catch (e) {
    throw new DecodeError(path, `cannot read HDF5 file: ${(e as Error).message}`, { cause: e });
  }
  // The superblock may sit at 0, 512, 1024 or 2048 (user block).
  for (const at of [0, 512, 1024, 2048]) {
    if (SIGNATURE.every((b, i) => head[at + i] === b)) return;
  }
  throw new DecodeError(path, "not an HDF5 file (no superblock signature)");
}

function hdf5Summary(e: unknown): string {
  const text = String((e as Error)?.message ?? e);
  const minors = [...text.matchAll(/minor: (.+)/g)].map((m) => m[1].trim());
  const last = [...text.matchAll(/in (H5\w+)\(\): ([^\n]+)/g)].pop();
  return [last ? `${last[1]}: ${last[2]}` : text.split("\n")[0], minors.at(-1)].filter(Boolean)
    .join("; ");
}

type H5Dataset = InstanceType<H5["Dataset"]>;

/** Opens `path` and hands `use` each of `keys` as a dataset; the file is closed after. */
async function withDatasets<T>(
  path: string,
  keys: readonly string[],
  use: (key: string, dataset: H5Dataset) => T,
): Promise<Record<string, T>> {
  await checkSignature(path);
  const h5wasm = await init();
  let file: InstanceType<H5["File"]>;
  try {
    file = new h5wasm.File(path, "r");
  } catch (e) {
    throw new DecodeError(path, `corrupt or truncated HDF5 file: ${hdf5Summary(e)}`, { cause: e });
  }
  try {
    const out: Record<string, T> = {};
    for (const key of keys) {
      let entity;
      try {
        entity = file.get(key);
      } catch (e) {
        throw new DecodeError(path, `cannot open HDF5 object "${key}": ${hdf5Summary(e)}`, {
          cause: e,
        });
      }
      if (!(entity instanceof h5wasm.Dataset)) {
        const present = file.keys().join(", ") || "none";
        throw new MissingKeyError(
          path,
          key,
          entity ? "is not a dataset" : `is missing (datasets: ${present})`,
        );
      }
      out[key] = use(key, entity);
    }
    return out;
  } finally {
    file.close();
  }
}

/**
 * Reads datasets from an HDF5 file.
 *
 * @param path File path.
 * @param keys Dataset names to read.
 * @returns The arrays by key (C order).
 * @throws {DecodeError} for a missing, non-HDF5 or corrupt file; {@linkcode MissingKeyError}
 * for a missing key.
 * @example
 * ```ts
 * import { readHdf5, writeHdf5 } from "@vmunet/datasets/fs";
 * const path = await Deno.makeTempFile({ suffix: ".h5" });
 * await writeHdf5(path, { image: { dtype: "float32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } });
 * const { image } = await readHdf5(path, ["image"]);
 * console.assert(image.shape.join() === "2,2" && image.data[3] === 4);
 * await Deno.remove(path);
 * ```
 */
export function readHdf5(
  path: string,
  keys: readonly string[],
): Promise<Record<string, NdArray>> {
  return withDatasets(path, keys, (key, dataset) => {
    let value;
    try {
      value = dataset.value;
    } catch (e) {
      throw new DecodeError(path, `cannot read HDF5 dataset "${key}": ${hdf5Summary(e)}`, {
        cause: e,
      });
    }
    return {
      dtype: dtypeName(path, key, dataset.dtype),
      shape: dataset.shape ?? [],
      data: toNdData(path, key, value),
    };
  });
}

/**
 * Reads the dtype and shape of datasets of an HDF5 file, not their values.
 *
 * @param path File path.
 * @param keys Dataset names.
 * @returns Dtype name (as in {@linkcode NdArray.dtype}) and shape by key.
 * @throws {DecodeError} for a missing, non-HDF5 or corrupt file; {@linkcode MissingKeyError}
 * for a missing key or an unsupported dtype.
 * @example
 * ```ts
 * import { readHdf5Headers, writeHdf5 } from "@vmunet/datasets/fs";
 * const path = await Deno.makeTempFile({ suffix: ".h5" });
 * await writeHdf5(path, { image: { dtype: "float32", shape: [1, 2], data: new Float32Array(2) } });
 * const { image } = await readHdf5Headers(path, ["image"]);
 * if (image.dtype !== "float32" || image.shape.join() !== "1,2") throw new Error();
 * await Deno.remove(path);
 * ```
 */
export function readHdf5Headers(
  path: string,
  keys: readonly string[],
): Promise<Record<string, { dtype: string; shape: number[] }>> {
  return withDatasets(path, keys, (key, dataset) => ({
    dtype: dtypeName(path, key, dataset.dtype),
    shape: dataset.shape ?? [],
  }));
}

function dtypeName(path: string, key: string, dtype: unknown): string {
  const names: Record<string, string> = {
    "<f": "float32",
    "<d": "float64",
    "<b": "int8",
    "<B": "uint8",
    "<h": "int16",
    "<H": "uint16",
    "<i": "int32",
    "<I": "uint32",
    "<q": "int64",
    "<Q": "uint64",
  };
  const key2 = typeof dtype === "string" ? dtype.replace(">", "<") : "";
  const name = names[key2];
  if (!name) throw new MissingKeyError(path, key, `has unsupported dtype ${JSON.stringify(dtype)}`);
  return name;
}

function toNdData(path: string, key: string, value: unknown): NdData {
  if (
    value instanceof Float32Array || value instanceof Float64Array || value instanceof Int8Array ||
    value instanceof Uint8Array || value instanceof Int16Array || value instanceof Uint16Array ||
    value instanceof Int32Array || value instanceof Uint32Array
  ) return value;
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) {
    return Float64Array.from(value as ArrayLike<bigint>, (v) => Number(v));
  }
  if (typeof value === "number") return new Float64Array([value]);
  throw new MissingKeyError(path, key, "is not a numeric array");
}

/**
 * Writes arrays as datasets of a new HDF5 file (replacing it), e.g. for test fixtures.
 *
 * @param path File path.
 * @param arrays The arrays by dataset name.
 * @returns Resolves when the file is closed.
 * @example
 * ```ts
 * import { writeHdf5 } from "@vmunet/datasets/fs";
 * const path = await Deno.makeTempFile({ suffix: ".h5" });
 * await writeHdf5(path, { label: { dtype: "float32", shape: [1], data: new Float32Array([1]) } });
 * await Deno.remove(path);
 * ```
 */
export async function writeHdf5(path: string, arrays: Record<string, NdArray>): Promise<void> {
  const h5wasm = await init();
  const file = new h5wasm.File(path, "w");
  try {
    for (const [name, a] of Object.entries(arrays)) {
      file.create_dataset({ name, data: a.data, shape: a.shape });
    }
  } finally {
    file.close();
  }
}
