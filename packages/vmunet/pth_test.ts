import assert from "node:assert/strict";
import { decodeValues } from "@vmunet/tensor/safetensors";
import { parsePth, PthError, readPthStateDict, stateDictOf } from "./pth.ts";
import { PickleError, unpickle } from "./pickle.ts";
import { ZipError } from "./_zip.ts";
import { PickleBuilder, writeZip } from "./testdata/pth_writer.ts";

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
  const ckpt = parsePth(bytes, "train_checkpoint.pth");
  const root = ckpt.root as Map<string, unknown>;
  assert.equal(root.get("epoch"), 7);
  assert.equal(root.get("min_loss"), 0.125); // np.float64 via numpy.core.multiarray.scalar
  assert.equal(root.get("loss"), 0.25);
  const sd = stateDictOf(ckpt);
  assert.deepEqual([...sd.keys()], ["vmunet.x"]);
  assert.deepEqual(values(sd.get("vmunet.x")!), [1, 2]);
  const opt = root.get("optimizer_state_dict") as Map<string, unknown>;
  const groups = opt.get("param_groups") as Map<string, unknown>[];
  assert.equal(groups[0].get("lr"), 1e-3);
  assert.deepEqual(groups[0].get("betas"), [0.9, 0.999]);
});

Deno.test("a checkpoint written by the test in PyTorch's zip format round-trips", () => {
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
  const sd = stateDictOf(parsePth(zip, "mine.pth"));
  assert.deepEqual(values(sd.get("w")!), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(values(sd.get("wt")!), [1, 4, 2, 5, 3, 6]);
});

Deno.test("a malicious pickle (os.system) is refused without running anything", () => {
  const pkl = new PickleBuilder()
    .global("os", "system").op(0x28).str("touch /tmp/pwned").op(0x74, 0x52)
    .finish();
  const zip = writeZip({ "evil/data.pkl": pkl });
  assert.throws(
    () => parsePth(zip, "evil.pth"),
    (e: unknown) =>
      e instanceof PickleError && e.message.startsWith("evil.pth:") &&
      e.message.includes(`refusing global "os.system"`),
  );
  // builtins.eval through STACK_GLOBAL is refused the same way.
  const viaStack = new PickleBuilder().str("builtins").str("eval").op(0x93).finish();
  assert.throws(() => unpickle(viaStack), /refusing global "builtins.eval"/);
});

Deno.test("sizes that exceed the file are rejected before allocation", () => {
  const pkl = new PickleBuilder()
    .global("collections", "OrderedDict").op(0x29, 0x52)
    .str("w").tensor("FloatStorage", "0", 1_000_000_000, 0, [1_000_000_000], [1]).op(0x73)
    .finish();
  const zip = writeZip({ "a/data.pkl": pkl, "a/data/0": new Uint8Array(16) });
  assert.throws(
    () => parsePth(zip, "liar.pth"),
    (e: unknown) => e instanceof PthError && e.message.includes("claims 1000000000 elements"),
  );
  // A zip whose central directory points past the end.
  const good = writeZip({ "a/data.pkl": new PickleBuilder().op(0x4e).finish() });
  const cut = good.slice(0, good.length - 40);
  cut.set(good.subarray(good.length - 22), cut.length - 22);
  assert.throws(() => parsePth(cut, "cut.pth"), (e: unknown) => e instanceof ZipError);
  // BINUNICODE8 claiming 2^40 bytes.
  const huge = Uint8Array.from([0x80, 4, 0x8d, 0, 0, 0, 0, 0, 1, 0, 0, 0x2e]);
  assert.throws(() => unpickle(huge), /beyond the pickle's end|truncated/);
});

Deno.test("legacy (non-zip) checkpoints get a clear error", () => {
  assert.throws(
    () => parsePth(Uint8Array.from([0x80, 2, 0x8a, 0x0a]), "old.pth"),
    (e: unknown) => e instanceof PthError && e.message.includes("legacy pre-1.6"),
  );
});
