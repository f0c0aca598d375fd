/**
 * Test helper: writes PyTorch-style zip checkpoints (stored entries, `archive/data.pkl`,
 * `archive/data/<key>`) from hand-assembled pickle opcodes, so tests can build small and
 * malicious `.pth` files without Python.
 *
 * @module
 */

/** CRC-32 (IEEE), as ZIP needs. */
function crc32(data: Uint8Array): number {
  let c = ~0;
  for (let i = 0; i < data.length; i++) {
    c ^= data[i];
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/**
 * An entry already deflated (raw deflate, method 8) with the uncompressed size and CRC its
 * headers declare — which a test may set to lie.
 */
export interface DeflatedEntry {
  /** The raw deflate stream. */
  deflated: Uint8Array;
  /** The uncompressed size written to the headers. */
  size: number;
  /** The CRC-32 written to the headers (default 0). */
  crc?: number;
}

/** What the local and the central header of an entry both record. */
interface EntryFields {
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  name: Uint8Array;
}

/**
 * A local (`fixed` 30) or central (`fixed` 46) header: its signature, then at `common` the
 * run of fields both headers share, from "version needed" to the name length (ZIP APPNOTE
 * 4.3.7 and 4.3.12), then the name.
 */
function header(signature: number, fixed: number, common: number, e: EntryFields): DataView {
  const bytes = new Uint8Array(fixed + e.name.length);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, signature, true);
  v.setUint16(common, 20, true); // version needed
  v.setUint16(common + 4, e.method, true);
  v.setUint32(common + 10, e.crc, true);
  v.setUint32(common + 14, e.compressedSize, true);
  v.setUint32(common + 18, e.size, true);
  v.setUint16(common + 22, e.name.length, true);
  bytes.set(e.name, fixed);
  return v;
}

/** Builds a ZIP archive of stored (uncompressed) entries, or given deflated ones. */
export function writeZip(files: Record<string, Uint8Array | DeflatedEntry>): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [name, file] of Object.entries(files)) {
    const stored = file instanceof Uint8Array;
    const data = stored ? file : file.deflated;
    const fields: EntryFields = {
      method: stored ? 0 : 8,
      crc: stored ? crc32(file) : file.crc ?? 0,
      compressedSize: data.length,
      size: stored ? file.length : file.size,
      name: enc.encode(name),
    };
    const local = new Uint8Array(header(0x04034b50, 30, 4, fields).buffer);
    const cv = header(0x02014b50, 46, 6, fields);
    cv.setUint16(4, 20, true); // version made by
    cv.setUint32(42, offset, true); // where the local header starts
    locals.push(local, data);
    centrals.push(new Uint8Array(cv.buffer));
    offset += local.length + data.length;
  }
  const cdSize = centrals.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, centrals.length, true);
  ev.setUint16(10, centrals.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const parts = [...locals, ...centrals, eocd];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A tiny pickle assembler for the opcodes torch.save uses. */
export class PickleBuilder {
  private bytes: number[] = [0x80, 2];
  /** Raw opcode bytes. */
  op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }
  /** SHORT_BINUNICODE / BINUNICODE string. */
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    if (b.length < 256) this.bytes.push(0x8c, b.length, ...b);
    else this.bytes.push(0x58, ...u32(b.length), ...b);
    return this;
  }
  /** BININT. */
  int(v: number): this {
    this.bytes.push(0x4a, ...new Uint8Array(new Int32Array([v]).buffer));
    return this;
  }
  /** GLOBAL module\nname\n. */
  global(module: string, name: string): this {
    this.bytes.push(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
    return this;
  }
  /** `(v0, v1, …)` of ints as a tuple. */
  intTuple(values: number[]): this {
    this.op(0x28);
    for (const v of values) this.int(v);
    return this.op(0x74);
  }
  /**
   * A tensor through `_rebuild_tensor_v2` with a persistent storage id
   * `('storage', torch.<type>, key, 'cpu', numel)`.
   */
  tensor(
    storageType: string,
    key: string,
    numel: number,
    offset: number,
    shape: number[],
    stride: number[],
  ): this {
    this.global("torch._utils", "_rebuild_tensor_v2");
    this.op(0x28); // MARK (args tuple)
    this.op(0x28).str("storage").global("torch", storageType).str(key).str("cpu").int(numel)
      .op(0x74, 0x51); // TUPLE, BINPERSID
    this.int(offset).intTuple(shape).intTuple(stride).op(0x89); // requires_grad False
    this.global("collections", "OrderedDict").op(0x29, 0x52); // empty hooks
    return this.op(0x74, 0x52); // TUPLE, REDUCE
  }
  /** The finished pickle (with STOP). */
  finish(): Uint8Array {
    return Uint8Array.from([...this.bytes, 0x2e]);
  }
}

function u32(v: number): number[] {
  return [...new Uint8Array(new Uint32Array([v]).buffer)];
}

/**
 * A `torch.save(model.state_dict())` archive of float32 tensors, one contiguous storage each —
 * what the official code saves as `best.pth`.
 *
 * @param tensors Values and shapes by state-dict key.
 * @returns The `.pth` bytes.
 */
export function stateDictPth(
  tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>,
): Uint8Array {
  const pickle = new PickleBuilder().global("collections", "OrderedDict").op(0x29, 0x52);
  const files: Record<string, Uint8Array> = {};
  for (const [i, [name, { shape, data }]] of [...tensors].entries()) {
    const stride = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
    pickle.str(name).tensor("FloatStorage", String(i), data.length, 0, [...shape], stride)
      .op(0x73); // SETITEM
    files[`archive/data/${i}`] = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const text = (t: string) => new TextEncoder().encode(t);
  return writeZip({
    "archive/data.pkl": pickle.finish(),
    "archive/byteorder": text("little"),
    ...files,
    "archive/version": text("3\n"),
  });
}

/** Raw-deflates `data` with the web-standard `CompressionStream`. */
export async function deflateRaw(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([data]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * A hand-built deflate bomb: one fixed-Huffman block of a literal zero followed by `matches`
 * copies of (length 258, distance 1), 13 bits each — it inflates to `1 + 258 × matches` zero
 * bytes, about 1290 times its own size.
 */
export function deflateZeroBomb(matches: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((3 + 8 + 13 * matches + 7) / 8) + 1);
  let bit = 0;
  // Deflate packs bits LSB first; Huffman codes go most significant bit first.
  const put = (value: number, n: number, huffman: boolean) => {
    for (let i = 0; i < n; i++) {
      const b = huffman ? (value >> (n - 1 - i)) & 1 : (value >> i) & 1;
      out[bit >> 3] |= b << (bit & 7);
      bit++;
    }
  };
  put(1, 1, false); // BFINAL
  put(1, 2, false); // BTYPE = fixed Huffman
  put(0x30, 8, true); // literal 0: codes 0..143 are 0x30 + value, 8 bits
  for (let i = 0; i < matches; i++) {
    put(0b11000101, 8, true); // length code 285 (258 bytes): 0xC0 + (285 - 280), 8 bits
    put(0, 5, true); // distance code 0 (distance 1), 5 bits
  }
  put(0, 7, true); // end of block: code 256, 7 zero bits
  return out.subarray(0, (bit + 7) >> 3);
}
