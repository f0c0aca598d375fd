/**
 * A minimal ZIP reader for PyTorch checkpoints: the central directory is parsed and every
 * offset is checked against the file size before any entry is read. Stored entries are
 * returned as views; deflated ones are inflated with the web-standard `DecompressionStream`
 * (Deno and browsers alike), in small input slices and never past the size the caller
 * allows, so a zip bomb is refused after at most that many bytes.
 *
 * @module
 */

import { FileError } from "./file_error.ts";

/** Raised for a malformed ZIP archive; the message names the file. */
export class ZipError extends FileError {
  /** `"ZipError"`. */
  override name = "ZipError";
}

/** One entry of the central directory. */
export interface ZipEntry {
  /** Path inside the archive. */
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  /** Compressed size in bytes. */
  compressedSize: number;
  /** Uncompressed size in bytes. */
  size: number;
  /** Offset of the local file header. */
  localHeaderOffset: number;
}

/** Whether `bytes` starts like a ZIP archive (`PK\x03\x04`). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 &&
    bytes[3] === 4;
}

/** Lists the entries of a ZIP archive (ZIP64 sizes included). */
export function listZip(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength;
  let eocd = -1;
  for (let i = n - 22; i >= Math.max(0, n - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new ZipError(source, "not a ZIP archive (no end-of-central-directory record)");
  }
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== 0x07064b50) {
      throw new ZipError(source, "ZIP64 locator missing");
    }
    const z64 = Number(view.getBigUint64(locator + 8, true));
    if (z64 + 56 > n || view.getUint32(z64, true) !== 0x06064b50) {
      throw new ZipError(source, "ZIP64 end record out of range");
    }
    count = Number(view.getBigUint64(z64 + 32, true));
    cdSize = Number(view.getBigUint64(z64 + 40, true));
    cdOffset = Number(view.getBigUint64(z64 + 48, true));
  }
  if (cdOffset + cdSize > n) {
    throw new ZipError(source, `central directory [${cdOffset}, +${cdSize}) beyond file size ${n}`);
  }
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > n || view.getUint32(p, true) !== 0x02014b50) {
      throw new ZipError(source, `central directory entry ${i} is corrupt`);
    }
    const method = view.getUint16(p + 10, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength));
    // ZIP64 extended information: the 0xFFFFFFFF fields, in order, follow in extra id 0x0001.
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        if (size === 0xffffffff) size = Number(view.getBigUint64((q += 8) - 8, true));
        if (compressedSize === 0xffffffff) {
          compressedSize = Number(view.getBigUint64((q += 8) - 8, true));
        }
        if (localHeaderOffset === 0xffffffff) {
          localHeaderOffset = Number(view.getBigUint64(q, true));
        }
      }
      e += 4 + len;
    }
    if (localHeaderOffset + 30 + compressedSize > n) {
      throw new ZipError(
        source,
        `entry "${name}" claims ${compressedSize} bytes beyond the file end`,
      );
    }
    entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
    p = extraEnd + commentLength;
  }
  return entries;
}

/**
 * Input slice fed to the inflater at a time: deflate expands at most ~1032×, so one slice
 * never yields more than ~8.5 MB of output before the limit is checked again.
 */
const INFLATE_SLICE = 8192;

/**
 * Inflates raw deflate data, refusing output beyond `limit` bytes as soon as it streams past
 * it (the rest of the input is never inflated).
 *
 * @param raw The compressed bytes.
 * @param limit Most bytes the entry may inflate to.
 * @param source The archive, for error messages.
 * @param name The entry, for error messages.
 * @returns The inflated bytes (at most `limit`).
 * @throws {ZipError} for corrupt data or output past `limit`.
 */
async function inflateRaw(
  raw: Uint8Array,
  limit: number,
  source: string,
  name: string,
): Promise<Uint8Array> {
  const stream = new DecompressionStream("deflate-raw");
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  // Feeds the input slice by slice (each write waits for the reader: backpressure); stops
  // quietly when the reader cancels.
  const feeding = (async () => {
    for (let at = 0; at < raw.byteLength; at += INFLATE_SLICE) {
      await writer.write(raw.slice(at, at + INFLATE_SLICE));
    }
    await writer.close();
  })().catch(() => {});
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw new ZipError(
          source,
          `entry "${name}" inflates past its declared ${limit} bytes (refused: a zip bomb or a ` +
            "corrupt archive)",
        );
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof ZipError) throw error;
    throw new ZipError(source, `entry "${name}" holds corrupt deflate data (${error})`);
  } finally {
    await feeding;
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Returns the bytes of one entry (a view for stored entries). Deflated entries inflate to at
 * most the central directory's uncompressed size (refused as soon as the stream passes it)
 * and must inflate to exactly that size.
 *
 * @param bytes The whole archive.
 * @param entry The entry, from {@linkcode listZip}.
 * @param source The archive, for error messages.
 * @param limit Most bytes the entry may declare (a caller that knows the size it needs passes
 *   it; default: no limit beyond the directory's size).
 * @returns The entry's bytes.
 * @throws {ZipError} naming the entry for a missing header, truncation, an unsupported method,
 *   a declared size over `limit`, or output past or short of the declared size.
 */
export async function readZipEntry(
  bytes: Uint8Array,
  entry: ZipEntry,
  source: string,
  limit: number = Number.MAX_SAFE_INTEGER,
): Promise<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const p = entry.localHeaderOffset;
  if (view.getUint32(p, true) !== 0x04034b50) {
    throw new ZipError(source, `entry "${entry.name}" has no local header`);
  }
  const start = p + 30 + view.getUint16(p + 26, true) + view.getUint16(p + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.byteLength) {
    throw new ZipError(source, `entry "${entry.name}" is truncated`);
  }
  if (entry.size > limit) {
    throw new ZipError(
      source,
      `entry "${entry.name}" declares ${entry.size} bytes, more than the ${limit} expected`,
    );
  }
  const raw = bytes.subarray(start, end);
  let out: Uint8Array;
  if (entry.method === 0) out = raw;
  else if (entry.method === 8) out = await inflateRaw(raw, entry.size, source, entry.name);
  else {
    throw new ZipError(
      source,
      `entry "${entry.name}" uses unsupported compression ${entry.method}`,
    );
  }
  if (out.byteLength !== entry.size) {
    throw new ZipError(
      source,
      `entry "${entry.name}" holds ${out.byteLength} bytes but its directory declares ${entry.size}`,
    );
  }
  return out;
}
