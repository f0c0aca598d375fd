/**
 * Header-level checks of a Synapse folder, run when it is opened: every training slice's
 * `.npz` (zip central directory and the `image`/`label` npy headers, the arrays not inflated)
 * and every test volume's HDF5 dataset headers. A bad file is then refused before training
 * starts, not found mid-epoch.
 *
 * @module
 */

import { ZipReader } from "./_zip.ts";
import { DecodeError, MissingKeyError } from "./errors.ts";
import { readHdf5Headers } from "./hdf5.ts";
import { npyHeaderLength, parseNpyHeader } from "./npy.ts";

/** The dtype and shape of one array. */
export interface ArrayHeader {
  /** NumPy dtype name. */
  dtype: string;
  /** Dimensions. */
  shape: readonly number[];
}

/**
 * Checks an image/label pair of a Synapse file: the image is a float array of `dims`
 * non-empty dimensions and the label has its shape (label values are checked when read).
 *
 * @throws {MissingKeyError} naming the file and the key at fault.
 */
export function checkSynapsePair(
  file: string,
  image: ArrayHeader,
  label: ArrayHeader,
  dims: 2 | 3,
): void {
  const layout = dims === 2 ? "(H,W)" : "(D,H,W)";
  if (image.shape.length !== dims || image.shape.some((d) => d < 1)) {
    throw new MissingKeyError(
      file,
      "image",
      `must be ${dims}-D ${layout}, got shape (${image.shape.join(",")})`,
    );
  }
  if (image.dtype !== "float32" && image.dtype !== "float64") {
    throw new MissingKeyError(
      file,
      "image",
      `has dtype ${image.dtype}; Synapse images are float CT values in [0, 1]`,
    );
  }
  if (label.shape.join() !== image.shape.join()) {
    throw new MissingKeyError(
      file,
      "label",
      `has shape (${label.shape.join(",")}), image has (${image.shape.join(",")})`,
    );
  }
}

const KEYS = ["image", "label"] as const;

async function npzHeaders(file: string): Promise<Record<string, ArrayHeader>> {
  const zip = await ZipReader.open(file);
  try {
    const out: Record<string, ArrayHeader> = {};
    for (const key of KEYS) {
      const entry = zip.entries.find((e) => e.name === `${key}.npy`);
      if (!entry) {
        const members = zip.entries.map((e) => e.name).join(", ") || "none";
        throw new MissingKeyError(file, key, `is missing (members: ${members})`);
      }
      const where = `${file}:${entry.name}`;
      // Version 1 headers as numpy writes them end at byte 128 (a multiple of 64).
      let bytes = await zip.readHead(entry, 128);
      const length = npyHeaderLength(bytes, where);
      if (length > bytes.length && bytes.length < entry.size) {
        bytes = await zip.readHead(entry, length);
      }
      const head = parseNpyHeader(bytes, where);
      if (entry.size < head.dataOffset + head.dataBytes) {
        throw new DecodeError(
          where,
          `truncated .npy data: ${entry.size - head.dataOffset} bytes for shape ` +
            `(${head.shape.join(",")}) ${head.dtype} (${head.dataBytes} bytes)`,
        );
      }
      out[key] = head;
    }
    return out;
  } finally {
    zip.close();
  }
}

/**
 * Checks the headers of every training slice (eight files at a time).
 *
 * @throws {MissingKeyError} for a missing key or a bad shape or dtype; {@linkcode DecodeError}
 * for a corrupt or truncated zip or npy header; both name the file.
 */
export async function validateSliceHeaders(files: readonly string[]): Promise<void> {
  const queue = files.slice();
  const worker = async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      const { image, label } = await npzHeaders(file);
      checkSynapsePair(file, image, label, 2);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/**
 * Checks the HDF5 dataset headers of every test volume.
 *
 * @throws {MissingKeyError} or {@linkcode DecodeError} naming the file.
 */
export async function validateVolumeHeaders(files: readonly string[]): Promise<void> {
  for (const file of files) {
    const { image, label } = await readHdf5Headers(file, KEYS);
    checkSynapsePair(file, image, label, 3);
  }
}
