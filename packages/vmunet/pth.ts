/**
 * Import PyTorch `.pth` checkpoints (the zip format of `torch.save` since PyTorch 1.6)
 * without Python and without running code: the archive's `data.pkl` goes through the
 * restricted unpickler of `pickle.ts`, and tensors are read from the storage files.
 *
 * @module
 */

import { FileError } from "./file_error.ts";
import {
  DTYPE_BYTES,
  type SafetensorsDtype,
  type SafetensorsEntry,
} from "@vmunet/tensor/safetensors";
import { isZip, listZip, readZipEntry, type ZipEntry } from "./_zip.ts";
import { type StorageRef, type TensorRef, unpickle } from "./pickle.ts";

/** Raised for a checkpoint that cannot be imported; the message names the file and entry. */
export class PthError extends FileError {
  /** `"PthError"`. */
  override name = "PthError";
}

const STORAGE_DTYPES: Record<string, SafetensorsDtype> = {
  FloatStorage: "F32",
  DoubleStorage: "F64",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

/** A parsed checkpoint: the unpickled object tree and a way to materialise its tensors. */
export interface PthCheckpoint {
  /** Where it came from. */
  readonly source: string;
  /** The unpickled object (dicts are `Map`s, tensors {@linkcode TensorRef}s). */
  readonly root: unknown;
  /**
   * Reads one tensor into a contiguous little-endian entry named `name` (its storage is
   * inflated on first use, never past the size the pickle declares).
   */
  tensor(name: string, ref: TensorRef): Promise<SafetensorsEntry>;
}

/** Options of {@linkcode parsePth}. */
export interface ParsePthOptions {
  /** Keep unknown globals as inert records instead of refusing the file (never runs code). */
  allowUnknownGlobals?: boolean;
}

/**
 * Parses a `.pth` file held in memory.
 *
 * @example
 * ```ts
 * import { parsePth, PthError } from "@vmunet/vmunet";
 * // Not a zip archive: a legacy pickle-only checkpoint is refused with the source named.
 * const error = await parsePth(Uint8Array.from([0x80, 2, 0x8a, 0x0a]), "old.pth").catch((e) => e);
 * if (!(error instanceof PthError) || !error.message.startsWith("old.pth:")) throw error;
 * ```
 *
 * @param bytes The whole file.
 * @param source Name for error messages (the path).
 * @param options Unknown-global policy.
 * @returns The checkpoint.
 * @throws {PthError} for legacy or malformed files; `PickleError` for refused globals;
 *   `ZipError` for a malformed archive or an entry that inflates past its declared size.
 */
export async function parsePth(
  bytes: Uint8Array,
  source = "<bytes>",
  options: ParsePthOptions = {},
): Promise<PthCheckpoint> {
  if (!isZip(bytes)) {
    throw new PthError(
      source,
      "not a zip-format PyTorch checkpoint (legacy pre-1.6 files are not supported: re-save " +
        "with torch.save(obj, path) in PyTorch ≥ 1.6)",
    );
  }
  const entries = listZip(bytes, source);
  const pkl = [...entries.keys()].find((n) => n === "data.pkl" || n.endsWith("/data.pkl"));
  if (!pkl) throw new PthError(source, "archive has no data.pkl");
  const prefix = pkl.slice(0, pkl.length - "data.pkl".length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(await readZipEntry(bytes, byteorder, source, 16))
      .trim();
    if (order !== "little") throw new PthError(source, `byte order "${order}" is not supported`);
  }
  const storages = new Map<string, { ref: StorageRef; entry: ZipEntry; bytes: number }>();
  const root = unpickle(await readZipEntry(bytes, entries.get(pkl)!, source), {
    source,
    allowUnknownGlobals: options.allowUnknownGlobals,
    persistentLoad: (pid) => {
      const [tag, storageClass, key, location, numel] = pid as [
        string,
        unknown,
        string,
        string,
        number,
      ];
      // The storage class arrives as the resolved global `torch.FloatStorage` (or a string).
      const storageType = String(
        (storageClass as { global?: string })?.global ?? storageClass,
      ).replace(/^torch\./, "");
      if (tag !== "storage") throw new PthError(source, `unknown persistent id "${tag}"`);
      if (!(storageType in STORAGE_DTYPES)) {
        throw new PthError(source, `unsupported storage type ${storageType}`);
      }
      const entry = entries.get(`${prefix}data/${key}`);
      if (!entry) throw new PthError(source, `storage data/${key} missing from the archive`);
      const needed = Number(numel) * DTYPE_BYTES[STORAGE_DTYPES[storageType]];
      if (needed > entry.size) {
        throw new PthError(
          source,
          `storage data/${key} claims ${numel} elements (${needed} bytes) but holds ${entry.size}`,
        );
      }
      const ref: StorageRef = {
        storageType,
        key: String(key),
        location: String(location),
        numel: Number(numel),
      };
      storages.set(ref.key, { ref, entry, bytes: needed });
      return ref;
    },
  });
  const cache = new Map<string, Uint8Array>();
  return {
    source,
    root,
    async tensor(name, ref) {
      const dtype = STORAGE_DTYPES[ref.storage.storageType];
      const size = DTYPE_BYTES[dtype];
      const stored = storages.get(ref.storage.key)!;
      let data = cache.get(ref.storage.key);
      if (!data) {
        // The pickle's declared size bounds the entry: a bigger one is refused uninflated.
        data = await readZipEntry(bytes, stored.entry, source, stored.bytes);
        cache.set(ref.storage.key, data);
      }
      const count = ref.shape.reduce((a, b) => a * b, 1);
      let maxIndex = ref.storageOffset;
      for (let i = 0; i < ref.shape.length; i++) {
        if (ref.shape[i] > 0) maxIndex += (ref.shape[i] - 1) * ref.stride[i];
      }
      if (count > 0 && (ref.storageOffset < 0 || maxIndex >= ref.storage.numel)) {
        throw new PthError(
          source,
          `tensor "${name}" reads past its storage data/${ref.storage.key}`,
        );
      }
      let contiguous = true;
      for (let i = ref.shape.length - 1, expect = 1; i >= 0; i--) {
        if (ref.shape[i] !== 1 && ref.stride[i] !== expect) contiguous = false;
        expect *= ref.shape[i];
      }
      let out: Uint8Array;
      if (contiguous) {
        out = data.subarray(ref.storageOffset * size, (ref.storageOffset + count) * size);
      } else {
        out = new Uint8Array(count * size);
        const index = new Array(ref.shape.length).fill(0);
        for (let flat = 0; flat < count; flat++) {
          let at = ref.storageOffset;
          for (let d = 0; d < index.length; d++) at += index[d] * ref.stride[d];
          out.set(data.subarray(at * size, at * size + size), flat * size);
          for (let d = index.length - 1; d >= 0; d--) {
            if (++index[d] < ref.shape[d]) break;
            index[d] = 0;
          }
        }
      }
      return { name, dtype, shape: ref.shape, bytes: out };
    },
  };
}

function isTensorRef(value: unknown): value is TensorRef {
  return typeof value === "object" && value !== null && (value as TensorRef).kind === "tensor";
}

/** Keys under which training scripts nest the model's state dict, most specific first. */
const STATE_DICT_KEYS = ["model_state_dict", "state_dict", "model", "model_ema", "net"];

/**
 * Finds the model state dict in a checkpoint (the root dict of tensors, or one nested under
 * `model_state_dict`, `state_dict`, `model`, …) and materialises its tensors. A DataParallel
 * `module.` prefix is removed.
 *
 * @param checkpoint A parsed checkpoint.
 * @param key Force the nested key to use.
 * @returns The tensors by parameter name, in checkpoint order.
 * @throws {PthError} if no dict of tensors is found.
 */
export async function stateDictOf(
  checkpoint: PthCheckpoint,
  key?: string,
): Promise<Map<string, SafetensorsEntry>> {
  const root = checkpoint.root;
  if (!(root instanceof Map)) {
    throw new PthError(checkpoint.source, "checkpoint root is not a dict");
  }
  let dict: Map<unknown, unknown> | undefined;
  if (key !== undefined) {
    const nested = root.get(key);
    if (!(nested instanceof Map)) {
      throw new PthError(checkpoint.source, `checkpoint has no dict under "${key}"`);
    }
    dict = nested;
  } else if ([...root.values()].some(isTensorRef)) {
    dict = root;
  } else {
    for (const k of STATE_DICT_KEYS) {
      const nested = root.get(k);
      if (nested instanceof Map && [...nested.values()].some(isTensorRef)) {
        dict = nested;
        break;
      }
    }
  }
  if (!dict) {
    throw new PthError(
      checkpoint.source,
      `no state dict found (top-level keys: ${[...root.keys()].map(String).join(", ")})`,
    );
  }
  const out = new Map<string, SafetensorsEntry>();
  const names = [...dict.keys()].map(String);
  const strip = names.length > 0 && names.every((n) => n.startsWith("module."));
  for (const [k, v] of dict) {
    if (!isTensorRef(v)) continue;
    const name = strip ? String(k).slice("module.".length) : String(k);
    out.set(name, await checkpoint.tensor(name, v));
  }
  return out;
}
