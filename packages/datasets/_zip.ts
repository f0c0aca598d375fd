/**
 * Random-access zip reading for archives too large to hold in memory (the ISIC training input
 * zip is ~10 GB): the central directory is read from the end of the file (zip64 included) and
 * each entry is read and inflated on its own with `fflate`.
 *
 * @module
 */

import { Inflate, inflateSync } from "fflate";
import { DecodeError } from "./errors.ts";

/** One file entry of a zip archive. */
export interface ZipEntry {
  /** Path inside the archive. */
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  /** Compressed size in bytes. */
  compressedSize: number;
  /** Uncompressed size in bytes. */
  size: number;
  /** Offset of the local file header. */
  localOffset: number;
}

async function readAt(
  f: Deno.FsFile,
  offset: number,
  length: number,
  file: string,
): Promise<Uint8Array> {
  await f.seek(offset, Deno.SeekMode.Start);
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await f.read(buf.subarray(got));
    if (n === null) {
      throw new DecodeError(file, `truncated zip: wanted ${length} bytes at offset ${offset}`);
    }
    got += n;
  }
  return buf;
}

/** An open zip archive. */
export class ZipReader {
  /** The archive path. */
  readonly path: string;
  /** The file entries (directories excluded). */
  readonly entries: readonly ZipEntry[];
  #file: Deno.FsFile;

  private constructor(path: string, file: Deno.FsFile, entries: ZipEntry[]) {
    this.path = path;
    this.#file = file;
    this.entries = entries;
  }

  /** Opens an archive and reads its central directory. */
  static async open(path: string): Promise<ZipReader> {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(path, { read: true });
    } catch (e) {
      throw new DecodeError(path, `cannot open zip archive: ${(e as Error).message}`, { cause: e });
    }
    try {
      return new ZipReader(path, f, await readDirectory(f, path));
    } catch (e) {
      f.close();
      throw e;
    }
  }

  async #dataStart(entry: ZipEntry): Promise<number> {
    const head = await readAt(this.#file, entry.localOffset, 30, this.path);
    const v = new DataView(head.buffer);
    if (v.getUint32(0, true) !== 0x04034b50) {
      throw new DecodeError(this.path, `corrupt zip: no local header for ${entry.name}`);
    }
    if (entry.method !== 0 && entry.method !== 8) {
      throw new DecodeError(
        this.path,
        `entry ${entry.name} uses unsupported compression method ${entry.method}`,
      );
    }
    return entry.localOffset + 30 + v.getUint16(26, true) + v.getUint16(28, true);
  }

  /**
   * Reads the first `length` bytes of an entry (fewer when it is shorter), inflating only
   * as much of a deflated entry as they need.
   */
  async readHead(entry: ZipEntry, length: number): Promise<Uint8Array> {
    const start = await this.#dataStart(entry);
    const want = Math.min(length, entry.size);
    if (entry.method === 0) {
      return await readAt(this.#file, start, Math.min(want, entry.compressedSize), this.path);
    }
    const parts: Uint8Array[] = [];
    let got = 0;
    const inflater = new Inflate((chunk) => {
      parts.push(chunk);
      got += chunk.length;
    });
    // Small reads first: a few hundred compressed bytes usually hold a file's header.
    let at = 0, chunk = 512;
    while (got < want && at < entry.compressedSize) {
      const n = Math.min(chunk, entry.compressedSize - at);
      const raw = await readAt(this.#file, start + at, n, this.path);
      at += n;
      chunk = Math.min(2 * chunk, 1 << 16);
      try {
        inflater.push(raw, at === entry.compressedSize);
      } catch (e) {
        throw new DecodeError(
          this.path,
          `corrupt zip entry ${entry.name}: ${(e as Error).message}`,
          { cause: e },
        );
      }
    }
    const out = new Uint8Array(Math.min(got, want));
    let o = 0;
    for (const p of parts) {
      if (o >= out.length) break;
      out.set(p.subarray(0, out.length - o), o);
      o += p.length;
    }
    return out;
  }

  /** Reads and inflates one entry. */
  async read(entry: ZipEntry): Promise<Uint8Array> {
    const start = await this.#dataStart(entry);
    const raw = await readAt(this.#file, start, entry.compressedSize, this.path);
    if (entry.method === 0) return raw;
    try {
      const out = inflateSync(raw, { out: new Uint8Array(entry.size) });
      if (out.length !== entry.size) {
        throw new Error(`inflated ${out.length} of ${entry.size} bytes`);
      }
      return out;
    } catch (e) {
      throw new DecodeError(this.path, `corrupt zip entry ${entry.name}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  /** Closes the archive. */
  close(): void {
    this.#file.close();
  }
}

async function readDirectory(f: Deno.FsFile, path: string): Promise<ZipEntry[]> {
  const size = (await f.stat()).size;
  const tailLen = Math.min(size, 65557);
  const tail = await readAt(f, size - tailLen, tailLen, path);
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new DecodeError(
      path,
      "not a zip archive or truncated (no end-of-central-directory record)",
    );
  }
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (eocd >= 20 && tv.getUint32(eocd - 20, true) === 0x07064b50) {
    const z64At = Number(tv.getBigUint64(eocd - 20 + 8, true));
    const z = new DataView((await readAt(f, z64At, 56, path)).buffer);
    if (z.getUint32(0, true) !== 0x06064b50) {
      throw new DecodeError(path, "corrupt zip64 end-of-central-directory record");
    }
    count = Number(z.getBigUint64(32, true));
    cdSize = Number(z.getBigUint64(40, true));
    cdOffset = Number(z.getBigUint64(48, true));
  }
  if (cdOffset + cdSize > size) {
    throw new DecodeError(path, "truncated zip: central directory beyond the end of the file");
  }
  const cd = await readAt(f, cdOffset, cdSize, path);
  const v = new DataView(cd.buffer);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || v.getUint32(p, true) !== 0x02014b50) {
      throw new DecodeError(path, `corrupt zip central directory at entry ${i}`);
    }
    const method = v.getUint16(p + 10, true);
    let compressedSize = v.getUint32(p + 20, true);
    let usize = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true),
      extraLen = v.getUint16(p + 30, true),
      commentLen = v.getUint16(p + 32, true);
    let localOffset = v.getUint32(p + 42, true);
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    // Zip64 extended information: present fields replace those stored as 0xFFFFFFFF.
    let e = p + 46 + nameLen;
    const end = e + extraLen;
    while (e + 4 <= end) {
      const id = v.getUint16(e, true), len = v.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (usize === 0xffffffff) (usize = Number(v.getBigUint64(q, true))), (q += 8);
        if (compressedSize === 0xffffffff) {
          (compressedSize = Number(v.getBigUint64(q, true))), (q += 8);
        }
        if (localOffset === 0xffffffff) localOffset = Number(v.getBigUint64(q, true));
      }
      e += 4 + len;
    }
    if (!name.endsWith("/")) {
      entries.push({ name, method, compressedSize, size: usize, localOffset });
    }
    p = end + commentLen;
  }
  return entries;
}
