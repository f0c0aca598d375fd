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

/** Builds a ZIP archive of stored (uncompressed) entries. */
export function writeZip(files: Record<string, Uint8Array>): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const nameBytes = enc.encode(name);
    const local = new Uint8Array(30 + nameBytes.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc32(data), true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    local.set(nameBytes, 30);
    const central = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc32(data), true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, offset, true);
    central.set(nameBytes, 46);
    locals.push(local, data);
    centrals.push(central);
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
