/**
 * What a checkpoint file is, from its first bytes: safetensors (an 8-byte little-endian header
 * length, then the JSON header's `{`), a PyTorch `.pth` (a zip archive, what `torch.save`
 * writes since PyTorch 1.6), or something else named as precisely as its magic bytes allow
 * (a legacy PyTorch file, a raw pickle, an HDF5 or NumPy file, an image, a compressed file, a
 * Git LFS pointer, an HTML page from a failed download…), so that a wrong file is refused
 * with a sentence a user can act on instead of a parser's complaint.
 *
 * @module
 */

import { isZip } from "./_zip.ts";

/** The formats a checkpoint can be read from, and `other` for everything else. */
export type CheckpointFormat = "safetensors" | "pth" | "other";

/** The format of a file and what it is, in words. */
export interface DetectedFormat {
  /** `safetensors`, `pth` (a zip archive), or `other` (not readable as a checkpoint). */
  format: CheckpointFormat;
  /** What the file is, e.g. `"a raw Python pickle (protocol 4)"`. */
  description: string;
  /** For `other`: what to do with such a file, when something can be done. */
  hint?: string;
}

/** `torch.save`'s legacy magic number 0x1950a86a20f9469cfc6c, pickled as a LONG1 of 10 bytes. */
const LEGACY_TORCH_MAGIC = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

function startsWith(bytes: Uint8Array, magic: readonly number[], at = 0): boolean {
  return bytes.length >= at + magic.length && magic.every((b, i) => bytes[at + i] === b);
}

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

const SAVE_AGAIN = "load it in PyTorch ≥ 1.6 and save its state_dict again with torch.save " +
  "(or as .safetensors)";

/** Other formats recognised by their magic bytes: [magic, offset, description, hint]. */
const OTHER_FORMATS: readonly [number[], number, string, string][] = [
  [[0x89, ...ascii("HDF\r\n\x1a\n")], 0, "an HDF5 file (Keras or h5py weights?)", SAVE_AGAIN],
  [[0x93, ...ascii("NUMPY")], 0, "a NumPy .npy array", "checkpoints hold named tensors"],
  [[0x1f, 0x8b], 0, "a gzip-compressed file", "decompress it first (gunzip)"],
  [ascii("BZh"), 0, "a bzip2-compressed file", "decompress it first (bunzip2)"],
  [[0xfd, ...ascii("7zXZ"), 0x00], 0, "an xz-compressed file", "decompress it first (unxz)"],
  [[...ascii("7z"), 0xbc, 0xaf, 0x27, 0x1c], 0, "a 7-Zip archive", "extract it first"],
  [ascii("ustar"), 257, "a tar archive", "extract it first (tar -xf)"],
  [[0x89, ...ascii("PNG")], 0, "a PNG image", "pass an image to predict --input"],
  [[0xff, 0xd8, 0xff], 0, "a JPEG image", "pass an image to predict --input"],
  [
    ascii("version https://git-lfs"),
    0,
    "a Git LFS pointer, not the file itself",
    "fetch the real file (git lfs pull)",
  ],
];

/**
 * Tells a checkpoint's format from its first bytes.
 *
 * @param bytes The file's bytes (the first 512 are enough).
 * @returns The format and a description of the file.
 * @example
 * ```ts
 * import { detectCheckpointFormat } from "@vmunet/vmunet";
 * const pickle = new Uint8Array([0x80, 0x04, 0x95, 0x00]);
 * const found = detectCheckpointFormat(pickle);
 * if (found.format !== "other" || !found.description.includes("raw Python pickle (protocol 4)")) {
 *   throw new Error(found.description);
 * }
 * const st = new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]); // header "{}"
 * if (detectCheckpointFormat(st).format !== "safetensors") throw new Error("safetensors");
 * ```
 */
export function detectCheckpointFormat(bytes: Uint8Array): DetectedFormat {
  if (bytes.length === 0) return { format: "other", description: "an empty file" };
  if (isZip(bytes)) return { format: "pth", description: "a zip archive (PyTorch .pth)" };
  if (startsWith(bytes, ascii("PK\x05\x06"))) {
    return { format: "other", description: "an empty zip archive" };
  }
  if (bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) {
    if (startsWith(bytes, LEGACY_TORCH_MAGIC, 2)) {
      return {
        format: "other",
        description: "a legacy PyTorch file (torch.save before PyTorch 1.6, or with " +
          "_use_new_zipfile_serialization=False), which is not read here",
        hint: SAVE_AGAIN,
      };
    }
    return {
      format: "other",
      description: `a raw Python pickle (protocol ${bytes[1]}), not a PyTorch .pth archive`,
      hint: SAVE_AGAIN,
    };
  }
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    return { format: "safetensors", description: "a safetensors file" };
  }
  for (const [magic, at, description, hint] of OTHER_FORMATS) {
    if (startsWith(bytes, magic, at)) return { format: "other", description, hint };
  }
  const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart().toLowerCase();
  if (head.startsWith("<!doctype html") || head.startsWith("<html") || head.startsWith("<?xml")) {
    return {
      format: "other",
      description: "an HTML or XML page (a failed download?)",
      hint: "download the file itself",
    };
  }
  const first = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return {
    format: "other",
    description: `neither safetensors nor a PyTorch .pth archive (first bytes ${first})`,
  };
}
