import assert from "node:assert/strict";
import { readJson } from "../../tools/testing.ts";
import { encode as fastPngEncode } from "fast-png";
import { DecodeError } from "./errors.ts";
import {
  decodeImage,
  decodeJpeg,
  decodePng,
  encodeJpeg,
  encodePng,
  imageSize,
  toGrey8,
  toLabels,
  toRgb8,
} from "./image_codec.ts";
import { loadReference, maxAbsDiff } from "./_reference.ts";

const ref = loadReference();
const testdata = (name: string) =>
  Deno.readFileSync(new URL(`./testdata/${name}`, import.meta.url));

Deno.test("PNG round-trips 8/16-bit grey, grey+alpha, RGB and RGBA of several sizes", () => {
  for (const [w, h] of [[1, 1], [7, 3], [33, 17]]) {
    for (const channels of [1, 2, 3, 4]) {
      const n = w * h * channels;
      const d8 = new Uint8Array(n).map((_, i) => (i * 37 + w) % 256);
      const p8 = decodePng(encodePng({ width: w, height: h, channels, data: d8 }), "a.png");
      assert.equal(p8.bitDepth, 8);
      assert.deepEqual([p8.width, p8.height, p8.channels], [w, h, channels]);
      assert.deepEqual(p8.data, d8);
      const d16 = new Uint16Array(n).map((_, i) => (i * 4099 + 7) % 65536);
      const p16 = decodePng(encodePng({ width: w, height: h, channels, data: d16 }), "b.png");
      assert.equal(p16.bitDepth, 16);
      assert.deepEqual(p16.data, d16);
    }
  }
});

Deno.test("palette PNGs expand to RGB and keep their indices as labels", () => {
  const palette = [[0, 0, 0], [255, 0, 0], [0, 255, 0], [10, 20, 30]];
  const idx = new Uint8Array([0, 1, 2, 3, 3, 2, 1, 0, 1]);
  const img = decodePng(
    encodePng({ width: 3, height: 3, channels: 1, data: idx, palette }),
    "p.png",
  );
  assert.equal(img.channels, 3);
  assert.deepEqual(Array.from(img.data.subarray(9, 12)), [10, 20, 30]);
  assert.deepEqual(Array.from(toLabels(img)), Array.from(idx));
});

Deno.test("1-bit and 4-bit PNGs are unpacked to sample values and scaled to 8 bits", () => {
  // Rows are packed most significant bits first, each row padded to a whole byte.
  const cases = [
    {
      depth: 1 as const,
      width: 10,
      height: 2,
      packed: [0b10110000, 0b01000000, 0b11111111, 0b11000000],
      samples: [..."1011000001" + "1111111111"].map(Number),
    },
    { depth: 4 as const, width: 3, height: 1, packed: [0x0f, 0x70], samples: [0, 15, 7] },
  ];
  for (const { depth, width, height, packed, samples } of cases) {
    const png = fastPngEncode({ width, height, channels: 1, depth, data: new Uint8Array(packed) });
    const img = decodePng(png, `${depth}-bit.png`);
    assert.deepEqual(Array.from(img.data), samples, `${depth}-bit samples`);
    const scale = 255 / (2 ** depth - 1);
    assert.deepEqual(Array.from(toGrey8(img)), samples.map((v) => v * scale), `${depth}-bit grey`);
  }
});

Deno.test("JPEG decoding equals libjpeg-turbo (PIL) exactly on baseline and progressive files", async () => {
  for (const kind of ["baseline", "progressive"]) {
    const img = await decodeJpeg(testdata(`${kind}.jpg`), `${kind}.jpg`);
    const expected = ref.jpeg[kind];
    assert.deepEqual([img.height, img.width, img.channels], expected.shape);
    assert.equal(maxAbsDiff(img.data, expected.data), 0, kind);
    assert.deepEqual(imageSize(testdata(`${kind}.jpg`), `${kind}.jpg`), [40, 24]);
  }
});

Deno.test("JPEG written by the encoder decodes to the same size and close pixels", async () => {
  for (const [w, h] of [[17, 9], [64, 48]]) {
    const rgb = new Uint8Array(w * h * 3).map((_, i) => 60 + ((i % 3) * 50) + ((i / 3 / w) | 0));
    const bytes = encodeJpeg(rgb, w, h, 95);
    const img = await decodeImage(bytes, "x.jpg");
    assert.deepEqual([img.width, img.height], [w, h]);
    assert.ok(maxAbsDiff(img.data, rgb) <= 8);
    assert.deepEqual(imageSize(bytes, "x.jpg"), [w, h]);
  }
});

Deno.test("encodeJpeg() works without Node's Buffer (as in a page): same bytes, Buffer left absent", () => {
  const w = 17, h = 9;
  const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 7 + 3) % 256);
  const withBuffer = encodeJpeg(rgb, w, h, 90);
  const scope = globalThis as { Buffer?: unknown };
  const saved = scope.Buffer;
  delete scope.Buffer;
  try {
    const without = encodeJpeg(rgb, w, h, 90);
    assert.ok(without instanceof Uint8Array);
    assert.deepEqual([without[0], without[1]], [0xff, 0xd8]); // SOI
    assert.deepEqual(without, withBuffer);
    assert.equal(scope.Buffer, undefined); // the stand-in does not outlive the call
  } finally {
    scope.Buffer = saved;
  }
});

Deno.test("toRgb8 and toGrey8 follow PIL's convert('RGB') and convert('L')", () => {
  const rgba = {
    file: "c.png",
    width: 2,
    height: 1,
    channels: 4,
    bitDepth: 8,
    data: new Uint8Array([255, 0, 0, 9, 0, 0, 255, 9]),
  };
  assert.deepEqual(Array.from(toRgb8(rgba)), [255, 0, 0, 0, 0, 255]);
  assert.deepEqual(Array.from(toGrey8(rgba)), [76, 29]);
  const g16 = {
    file: "g.png",
    width: 1,
    height: 1,
    channels: 1,
    bitDepth: 16,
    data: new Uint16Array([0xabcd]),
  };
  assert.deepEqual(Array.from(toRgb8(g16)), [0xab, 0xab, 0xab]);
});

Deno.test("corrupt, truncated and unknown image files raise DecodeError naming the file", async () => {
  const png = encodePng({
    width: 16,
    height: 16,
    channels: 3,
    data: new Uint8Array(768).map((_, i) => i),
  });
  const jpg = encodeJpeg(new Uint8Array(32 * 32 * 3).map((_, i) => i), 32, 32);
  const cases: [Uint8Array, string, RegExp][] = [
    [png.subarray(0, png.length - 30), "cut.png", /cut\.png: corrupt or truncated PNG/],
    [jpg.subarray(0, jpg.length - 60), "cut.jpg", /cut\.jpg: .*(corrupt|truncated) JPEG/],
    [jpg.subarray(0, 200), "head.jpg", /head\.jpg: .*JPEG/],
    [new Uint8Array([1, 2, 3, 4]), "junk.bin", /junk\.bin: neither a PNG nor a JPEG/],
    [new Uint8Array(0), "empty.png", /empty\.png: empty file/],
  ];
  const flipped = png.slice();
  flipped[40] ^= 0xff;
  cases.push([flipped, "crc.png", /crc\.png/]);
  // A complete JPEG whose Huffman table is garbage: the decoder itself must fail.
  const badTable = jpg.slice();
  const dht = badTable.findIndex((b, i) => b === 0xff && badTable[i + 1] === 0xc4);
  badTable.fill(0xff, dht + 5, dht + 21);
  cases.push([badTable, "table.jpg", /table\.jpg: corrupt JPEG: Bogus Huffman table/]);
  for (const [bytes, name, pattern] of cases) {
    await assert.rejects(
      decodeImage(bytes, name),
      (e) => e instanceof DecodeError && e.file === name && pattern.test(e.message),
      name,
    );
  }
});

Deno.test("a CMYK JPEG (Adobe, inverted) decodes to PIL's RGB within 2 levels; without its Adobe marker too", async () => {
  const bytes = await Deno.readFile(new URL("./testdata/cmyk.jpg", import.meta.url));
  const ref = await readJson<{
    width: number;
    height: number;
    rgb: number[];
  }>(new URL("./testdata/cmyk.json", import.meta.url));
  const img = await decodeImage(bytes, "cmyk.jpg");
  assert.deepEqual([img.width, img.height, img.channels, img.bitDepth], [16, 8, 3, 8]);
  let worst = 0, sum = 0;
  for (let i = 0; i < ref.rgb.length; i++) {
    const d = Math.abs(img.data[i] - ref.rgb[i]);
    worst = Math.max(worst, d);
    sum += d;
  }
  assert.ok(worst <= 2, `max |ours - PIL| = ${worst}`);
  assert.ok(sum / ref.rgb.length <= 0.75, `mean |ours - PIL| = ${sum / ref.rgb.length}`);
  // The same file without its APP14 marker: PIL assumes the Adobe convention, and so do we.
  const app14 = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0xee);
  assert.ok(app14 > 0);
  const len = (bytes[app14 + 2] << 8) | bytes[app14 + 3];
  const bare = new Uint8Array([...bytes.subarray(0, app14), ...bytes.subarray(app14 + 2 + len)]);
  assert.deepEqual((await decodeImage(bare, "bare.jpg")).data, img.data);
  // A truncated CMYK JPEG is still refused.
  const cut = new Uint8Array([...bytes.subarray(0, 300), 0xff, 0xd9]);
  await assert.rejects(decodeImage(cut, "cut.jpg"), /cut\.jpg: corrupt CMYK JPEG/);
});
