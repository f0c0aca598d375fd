import assert from "node:assert/strict";
import { serializeSafetensors } from "@vmunet/tensor/safetensors";
import { CheckpointError, detectCheckpointFormat } from "./mod.ts";
import { readCheckpoint } from "./fs.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** `pickle.dumps({"a": 1}, protocol=4)`. */
const RAW_PICKLE = new Uint8Array(
  [128, 4, 149, 10, 0, 0, 0, 0, 0, 0, 0, 125, 148, 140, 1, 97, 148, 75, 1, 115, 46],
);
/** `pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2)`: how a legacy `torch.save` file starts. */
const LEGACY_TORCH = new Uint8Array(
  [128, 2, 138, 10, 108, 252, 156, 70, 249, 32, 106, 168, 80, 25, 46],
);

Deno.test("detectCheckpointFormat() tells safetensors, .pth archives and other files apart by their magic bytes", () => {
  const st = serializeSafetensors({ w: { dtype: "F32", shape: [1], data: new Float32Array(1) } });
  const cases: [Uint8Array, string, RegExp][] = [
    [st, "safetensors", /safetensors/],
    [new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]), "pth", /zip archive/],
    [RAW_PICKLE, "other", /^a raw Python pickle \(protocol 4\), not a PyTorch \.pth archive$/],
    [LEGACY_TORCH, "other", /^a legacy PyTorch file \(torch\.save before PyTorch 1\.6/],
    [new Uint8Array(0), "other", /^an empty file$/],
    [new Uint8Array([0x50, 0x4b, 5, 6, ...new Array(18).fill(0)]), "other", /empty zip/],
    [new Uint8Array([0x89, ...text("HDF\r\n\x1a\n"), 0]), "other", /HDF5/],
    [new Uint8Array([0x93, ...text("NUMPY"), 1, 0]), "other", /NumPy/],
    [new Uint8Array([0x1f, 0x8b, 8, 0]), "other", /gzip/],
    [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0]), "other", /PNG image/],
    [new Uint8Array([0xff, 0xd8, 0xff, 0xe0]), "other", /JPEG image/],
    [text("version https://git-lfs.github.com/spec/v1\noid sha256:ab"), "other", /Git LFS/],
    [text("\n<!DOCTYPE html><html>"), "other", /HTML or XML page/],
    [text("hello world, no magic"), "other", /first bytes 68 65 6c 6c 6f 20 77 6f/],
  ];
  for (const [bytes, format, description] of cases) {
    const found = detectCheckpointFormat(bytes);
    assert.equal(found.format, format, found.description);
    assert.match(found.description, description);
  }
  const tar = new Uint8Array(512);
  tar.set(text("ustar"), 257);
  assert.match(detectCheckpointFormat(tar).description, /tar archive/);
});

Deno.test("readCheckpoint() says what a file that is not a checkpoint is (no SafetensorsError, no absurd length)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [name, bytes, what] of [
        [
          "raw.pkl",
          RAW_PICKLE,
          /raw\.pkl: not a checkpoint: a raw Python pickle \(protocol 4\).*save its state_dict again with torch\.save/,
        ],
        ["old.pth", LEGACY_TORCH, /old\.pth: not a checkpoint: a legacy PyTorch file/],
        [
          "page.pth",
          text("<html><body>404</body></html>"),
          /page\.pth: not a checkpoint: an HTML or XML page \(a failed download\?\); download the file itself/,
        ],
      ] as const
    ) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      await assert.rejects(
        readCheckpoint(`${dir}/${name}`),
        (e: Error) => e instanceof CheckpointError && what.test(e.message),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
