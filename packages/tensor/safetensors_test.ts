import assert from "node:assert/strict";
import { parseSafetensors, SafetensorsError, serializeSafetensors } from "./safetensors.ts";

Deno.test("serializeSafetensors() round-trips values, shapes and metadata", () => {
  const bytes = serializeSafetensors(
    {
      w: { dtype: "F32", shape: [2, 3], data: [1, -2, 3.5, 4, 5, 6] },
      n: { dtype: "I32", shape: [3], data: [7, -8, 9] },
      big: { dtype: "I64", shape: [2], data: [1, -3] },
    },
    { dims: "16" },
  );
  // The header length field is a multiple of 8 (padding), as the reference writer does.
  assert.equal(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8, 0);
  const file = parseSafetensors(bytes, "x.safetensors");
  assert.deepEqual(file.metadata, { dims: "16" });
  assert.deepEqual([...file.tensors.keys()], ["big", "n", "w"]);
  assert.deepEqual(file.get("w").shape, [2, 3]);
  assert.deepEqual(Array.from(file.float32("w")), [1, -2, 3.5, 4, 5, 6]);
  assert.deepEqual(Array.from(file.int32("n")), [7, -8, 9]);
  assert.deepEqual(Array.from(file.float64("big")), [1, -3]);
});

Deno.test("parseSafetensors() rejects a header longer than the file without allocating it", () => {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 40n, true);
  assert.throws(
    () => parseSafetensors(bytes, "huge.safetensors"),
    (e: unknown) =>
      e instanceof SafetensorsError && e.message.startsWith("huge.safetensors:") &&
      e.message.includes("header claims 1099511627776 bytes"),
  );
});

Deno.test("parseSafetensors() rejects data offsets outside the file and wrong byte counts", () => {
  const good = serializeSafetensors({ w: { dtype: "F32", shape: [4], data: [1, 2, 3, 4] } });
  const truncated = good.subarray(0, good.length - 4);
  assert.throws(
    () => parseSafetensors(truncated, "t.safetensors"),
    (e: unknown) => e instanceof SafetensorsError && e.message.includes(`tensor "w" claims bytes`),
  );
  const header = JSON.stringify({ w: { dtype: "F32", shape: [3], data_offsets: [0, 16] } });
  const bad = new Uint8Array(8 + header.length + 16);
  new DataView(bad.buffer).setBigUint64(0, BigInt(header.length), true);
  bad.set(new TextEncoder().encode(header), 8);
  assert.throws(
    () => parseSafetensors(bad, "b.safetensors"),
    (e: unknown) => e instanceof SafetensorsError && e.message.includes("needs 12 bytes"),
  );
  assert.throws(() => parseSafetensors(good).get("nope"), /no tensor named "nope"/);
});

Deno.test("parseSafetensors() reads the golden scan fixture's tensors and metadata", async () => {
  const path = new URL("../../testdata/golden/scan_grouped.safetensors", import.meta.url);
  const bytes = await Deno.readFile(path);
  const file = parseSafetensors(bytes, path.pathname);
  const [batch, channels, length] = file.get("u").shape;
  assert.deepEqual(file.get("out").shape, [batch, channels, length]);
  assert.equal(file.get("A").shape[0], channels);
  assert.equal(file.float32("u").length, batch * channels * length);
});
