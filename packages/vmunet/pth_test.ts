import assert from "node:assert/strict";
import { decodeValues } from "@vmunet/tensor/safetensors";
import { readPthStateDict } from "./fs.ts";
import { parsePth, PthError, stateDictOf } from "./pth.ts";
import { PickleError, unpickle } from "./pickle.ts";
import { listZip, readZipEntry, ZipError } from "./_zip.ts";
import { deflateRaw, deflateZeroBomb, PickleBuilder, writeZip } from "./testdata/pth_writer.ts";

const testdata = (name: string) => new URL(`./testdata/${name}`, import.meta.url).pathname;
const values = (e: { dtype: string; shape: readonly number[]; bytes: Uint8Array }) =>
  Array.from(decodeValues(e as Parameters<typeof decodeValues>[0]));

Deno.test("readPthStateDict() reads a torch.save'd state dict: strides, offsets, f16, i64", async () => {
  // testdata/tiny_state_dict.pth was written by PyTorch 1.13 (values noted beside each key).
  const sd = await readPthStateDict(testdata("tiny_state_dict.pth"));
  const w = Array.from({ length: 12 }, (_, i) => i / 8 - 0.5);
  assert.deepEqual([...sd.keys()], [
    "vmunet.a.weight",
    "vmunet.a.bias",
    "vmunet.t",
    "vmunet.h",
    "vmunet.i",
    "vmunet.s",
  ]); // DataParallel's "module." prefix removed
  assert.deepEqual(sd.get("vmunet.a.weight")!.shape, [3, 4]);
  assert.deepEqual(values(sd.get("vmunet.a.weight")!), w);
  assert.deepEqual(values(sd.get("vmunet.a.bias")!), [1.5, -2, 3.25]);
  // w.t(): a non-contiguous view, materialised in row-major order.
  assert.deepEqual(sd.get("vmunet.t")!.shape, [4, 3]);
  assert.deepEqual(
    values(sd.get("vmunet.t")!),
    [0, 1, 2, 3].flatMap((j) => [0, 1, 2].map((i) => w[i * 4 + j])),
  );
  assert.equal(sd.get("vmunet.h")!.dtype, "F16");
  assert.deepEqual(values(sd.get("vmunet.h")!), [0.5, -1, 65504]);
  assert.deepEqual(values(sd.get("vmunet.i")!), [1, -2, 3, 4]);
  // w[1:, 2:]: offset 6, strides (4, 1).
  assert.deepEqual(values(sd.get("vmunet.s")!), [w[6], w[7], w[10], w[11]]);
});

Deno.test("parsePth() reads a VM-UNet training checkpoint with numpy scalars and optimizer state", async () => {
  const bytes = await Deno.readFile(testdata("train_checkpoint.pth"));
  const ckpt = await parsePth(bytes, "train_checkpoint.pth");
  const root = ckpt.root as Map<string, unknown>;
  assert.equal(root.get("epoch"), 7);
  assert.equal(root.get("min_loss"), 0.125); // np.float64 via numpy.core.multiarray.scalar
  assert.equal(root.get("loss"), 0.25);
  const sd = await stateDictOf(ckpt);
  assert.deepEqual([...sd.keys()], ["vmunet.x"]);
  assert.deepEqual(values(sd.get("vmunet.x")!), [1, 2]);
  const opt = root.get("optimizer_state_dict") as Map<string, unknown>;
  const groups = opt.get("param_groups") as Map<string, unknown>[];
  assert.equal(groups[0].get("lr"), 1e-3);
  assert.deepEqual(groups[0].get("betas"), [0.9, 0.999]);
});

Deno.test("a checkpoint written by the test in PyTorch's zip format round-trips", async () => {
  const data = new Float32Array([1, 2, 3, 4, 5, 6]);
  const pkl = new PickleBuilder()
    .global("collections", "OrderedDict").op(0x29, 0x52) // OrderedDict()
    .str("w").tensor("FloatStorage", "0", 6, 0, [2, 3], [3, 1]).op(0x73) // SETITEM
    .str("wt").tensor("FloatStorage", "0", 6, 0, [3, 2], [1, 3]).op(0x73)
    .finish();
  const zip = writeZip({
    "ckpt/data.pkl": pkl,
    "ckpt/byteorder": new TextEncoder().encode("little"),
    "ckpt/data/0": new Uint8Array(data.buffer),
    "ckpt/version": new TextEncoder().encode("3\n"),
  });
  const sd = await stateDictOf(await parsePth(zip, "mine.pth"));
  assert.deepEqual(values(sd.get("w")!), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(values(sd.get("wt")!), [1, 4, 2, 5, 3, 6]);
});

Deno.test("a malicious pickle (os.system) is refused without running anything", async () => {
  const pkl = new PickleBuilder()
    .global("os", "system").op(0x28).str("touch /tmp/pwned").op(0x74, 0x52)
    .finish();
  const zip = writeZip({ "evil/data.pkl": pkl });
  await assert.rejects(
    () => parsePth(zip, "evil.pth"),
    (e: unknown) =>
      e instanceof PickleError && e.message.startsWith("evil.pth:") &&
      e.message.includes(`refusing global "os.system"`),
  );
  // builtins.eval through STACK_GLOBAL is refused the same way.
  const viaStack = new PickleBuilder().str("builtins").str("eval").op(0x93).finish();
  assert.throws(() => unpickle(viaStack), /refusing global "builtins.eval"/);
});

Deno.test("sizes that exceed the file are rejected before allocation", async () => {
  const pkl = new PickleBuilder()
    .global("collections", "OrderedDict").op(0x29, 0x52)
    .str("w").tensor("FloatStorage", "0", 1_000_000_000, 0, [1_000_000_000], [1]).op(0x73)
    .finish();
  const zip = writeZip({ "a/data.pkl": pkl, "a/data/0": new Uint8Array(16) });
  await assert.rejects(
    () => parsePth(zip, "liar.pth"),
    (e: unknown) => e instanceof PthError && e.message.includes("claims 1000000000 elements"),
  );
  // A zip whose central directory points past the end.
  const good = writeZip({ "a/data.pkl": new PickleBuilder().op(0x4e).finish() });
  const cut = good.slice(0, good.length - 40);
  cut.set(good.subarray(good.length - 22), cut.length - 22);
  await assert.rejects(() => parsePth(cut, "cut.pth"), (e: unknown) => e instanceof ZipError);
  // BINUNICODE8 claiming 2^40 bytes.
  const huge = Uint8Array.from([0x80, 4, 0x8d, 0, 0, 0, 0, 0, 1, 0, 0, 0x2e]);
  assert.throws(() => unpickle(huge), /beyond the pickle's end|truncated/);
});

Deno.test("legacy (non-zip) checkpoints get a clear error", async () => {
  await assert.rejects(
    () => parsePth(Uint8Array.from([0x80, 2, 0x8a, 0x0a]), "old.pth"),
    (e: unknown) => e instanceof PthError && e.message.includes("legacy pre-1.6"),
  );
});

/** A state dict `{w: FloatStorage of numel elements}` with its storage as given. */
function storageCheckpoint(numel: number, storage: Parameters<typeof writeZip>[0][string]) {
  const pkl = new PickleBuilder()
    .global("collections", "OrderedDict").op(0x29, 0x52)
    .str("w").tensor("FloatStorage", "0", numel, 0, [numel], [1]).op(0x73)
    .finish();
  return writeZip({ "a/data.pkl": pkl, "a/data/0": storage });
}

Deno.test("a deflated storage entry inflates and reads back", async () => {
  const data = new Float32Array(1000).map((_, i) => i % 7);
  const bytes = new Uint8Array(data.buffer);
  const zip = storageCheckpoint(1000, { deflated: await deflateRaw(bytes), size: bytes.length });
  const sd = await stateDictOf(await parsePth(zip, "deflated.pth"));
  assert.deepEqual(values(sd.get("w")!), Array.from(data));
});

Deno.test("an entry that inflates past its declared size is refused, naming the entry", async () => {
  // 4000 bytes of data whose headers (directory and pickle) declare 400.
  const bytes = new Uint8Array(4000).map((_, i) => i * 31);
  const zip = storageCheckpoint(100, { deflated: await deflateRaw(bytes), size: 400 });
  const ckpt = await parsePth(zip, "liar.pth");
  await assert.rejects(
    () => stateDictOf(ckpt),
    (e: unknown) =>
      e instanceof ZipError && e.message.startsWith("liar.pth:") &&
      e.message.includes(`entry "a/data/0" inflates past its declared 400 bytes`),
  );
  // One that inflates short of its declared size is refused too.
  const short = storageCheckpoint(1000, { deflated: await deflateRaw(bytes), size: 4000 * 2 });
  await assert.rejects(
    async () => stateDictOf(await parsePth(short, "short.pth")),
    (e: unknown) => e instanceof PthError || e instanceof ZipError,
  );
});

Deno.test("a directory size bigger than the pickle's storage is refused before inflating", async () => {
  const bytes = new Uint8Array(4000);
  const zip = storageCheckpoint(10, { deflated: await deflateRaw(bytes), size: 4000 });
  await assert.rejects(
    async () => stateDictOf(await parsePth(zip, "big.pth")),
    (e: unknown) =>
      e instanceof ZipError &&
      e.message.includes(`"a/data/0" declares 4000 bytes, more than the 40`),
  );
});

Deno.test("a deflate bomb (5 MB of compressed zeros claiming 4 KB) is refused without inflating it", async () => {
  // The hand-built stream is valid deflate: a small one declared honestly reads back.
  const honest = storageCheckpoint(259, { deflated: deflateZeroBomb(4), size: 1 + 258 * 4 + 3 });
  await assert.rejects( // 1033 bytes are not the 1036 the directory declares
    async () => stateDictOf(await parsePth(honest, "honest.pth")),
    (e: unknown) => e instanceof ZipError && e.message.includes("holds 1033 bytes"),
  );
  const exact = writeZip({ z: { deflated: deflateZeroBomb(4), size: 1033 } });
  const zeros = await readZipEntry(exact, listZip(exact, "exact.zip").get("z")!, "exact.zip");
  assert.deepEqual(zeros, new Uint8Array(1033));
  const matches = 3_000_000; // 4.9 MB that inflate to 774 MB of zeros
  const bomb = deflateZeroBomb(matches);
  assert(bomb.length > 4_000_000 && bomb.length < 5_000_000, `${bomb.length}`);
  const zip = storageCheckpoint(1024, { deflated: bomb, size: 4096 });
  const rss = Deno.memoryUsage().rss;
  await assert.rejects(
    async () => stateDictOf(await parsePth(zip, "bomb.pth")),
    (e: unknown) =>
      e instanceof ZipError && e.message.startsWith("bomb.pth:") &&
      e.message.includes(`entry "a/data/0" inflates past its declared 4096 bytes`),
  );
  // Inflating it all would take ≥ 774 MB; the refusal stops after one input slice.
  const grown = Deno.memoryUsage().rss - rss;
  assert(grown < 200 * 2 ** 20, `resident memory grew by ${grown} bytes`);
});

Deno.test("unpickle decodes every opcode with a binary argument (value, length or memo key)", () => {
  const le = (v: number, n: number) =>
    Array.from({ length: n }, (_, i) => Math.floor(v / 2 ** (8 * i)) % 256);
  const enc = (s: string) => [...new TextEncoder().encode(s)];
  const sized = (op: number, width: number, b: number[]) => [op, ...le(b.length, width), ...b];
  const last = new Uint8Array([4]);
  // [opcode, its bytes, what it pushes]
  const ops: [string, number[], unknown[]][] = [
    ["BININT", [0x4a, ...le(2 ** 32 - 5, 4)], [-5]],
    ["BININT1", [0x4b, 200], [200]],
    ["BININT2", [0x4d, ...le(40000, 2)], [40000]],
    ["LONG1", [0x8a, 2, 0x00, 0x80], [-32768]],
    ["LONG4", [0x8b, ...le(1, 4), 0xff], [-1]],
    ["BINUNICODE", sized(0x58, 4, enc("bu")), ["bu"]],
    ["SHORT_BINUNICODE", sized(0x8c, 1, enc("sbu")), ["sbu"]],
    ["BINUNICODE8", sized(0x8d, 8, enc("bu8")), ["bu8"]],
    ["BINSTRING", sized(0x54, 4, enc("bs")), ["bs"]],
    ["SHORT_BINSTRING", sized(0x55, 1, enc("sbs")), ["sbs"]],
    ["BINBYTES", sized(0x42, 4, [1]), [new Uint8Array([1])]],
    ["SHORT_BINBYTES", sized(0x43, 1, [2, 3]), [new Uint8Array([2, 3])]],
    ["BINBYTES8", sized(0x8e, 8, []), [new Uint8Array([])]],
    ["BYTEARRAY8", sized(0x96, 8, [4]), [last]],
    ["BINPUT", [0x71, 7], []],
    ["LONG_BINPUT", [0x72, ...le(70000, 4)], []],
    ["BINGET", [0x68, 7], [last]],
    ["LONG_BINGET", [0x6a, ...le(70000, 4)], [last]],
  ];
  // PROTO 4, MARK, the opcodes, LIST, STOP.
  const pkl = Uint8Array.from([0x80, 4, 0x28, ...ops.flatMap(([, b]) => b), 0x6c, 0x2e]);
  assert.deepEqual(unpickle(pkl), ops.flatMap(([, , pushed]) => pushed));
});
