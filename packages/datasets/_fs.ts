/**
 * File-system helpers: sorted listings, whole-file and header reads, pair-size checks.
 *
 * @module
 */

import { DatasetLayoutError, DecodeError } from "./errors.ts";
import type { FilePair } from "./paired.ts";
import { imageSize } from "./image_codec.ts";

/** Joins path segments with `/`. */
export function join(...parts: string[]): string {
  return parts.filter((p) => p.length > 0).join("/").replace(/\/+/g, "/");
}

/** Whether `path` is a directory. */
export async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** Names of the regular files in `dir`, sorted like Python's `sorted()` (by code point). */
export async function listFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if ((e.isFile || e.isSymlink) && !e.name.startsWith(".")) names.push(e.name);
    }
  } catch (e) {
    throw new DatasetLayoutError(dir, `cannot list folder: ${(e as Error).message}`, { cause: e });
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Reads a whole file, naming it in the error. */
export async function readFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new DecodeError(path, `cannot read file: ${(e as Error).message}`, { cause: e });
  }
}

/** The image size from the file's header (reads 64 KiB, or the whole file if needed). */
export async function readImageSize(path: string): Promise<[number, number]> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch (e) {
    throw new DecodeError(path, `cannot read file: ${(e as Error).message}`, { cause: e });
  }
  const head = new Uint8Array(65536);
  let got = 0;
  try {
    while (got < head.length) {
      const n = await f.read(head.subarray(got));
      if (n === null) break;
      got += n;
    }
  } finally {
    f.close();
  }
  if (got === 0) throw new DecodeError(path, "empty file");
  const size = imageSize(head.subarray(0, got), path) ??
    (got === head.length ? imageSize(await readFile(path), path) : null);
  if (!size) throw new DecodeError(path, "truncated image: no size header found");
  return size;
}

/**
 * Checks at open time, from the file headers only, that every mask has its image's size.
 *
 * @throws {DatasetLayoutError} naming the mask whose size differs.
 */
export async function validatePairSizes(pairs: readonly FilePair[]): Promise<void> {
  const queue = pairs.slice();
  const worker = async () => {
    for (let pair = queue.shift(); pair; pair = queue.shift()) {
      const [iw, ih] = await readImageSize(pair.image);
      const [mw, mh] = await readImageSize(pair.mask);
      if (iw !== mw || ih !== mh) {
        throw new DatasetLayoutError(
          pair.mask,
          `mask is ${mw}×${mh} but its image ${pair.image} is ${iw}×${ih}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}
