import assert from "node:assert/strict";
import { delimiter, join } from "node:path";
import { GoldenDirError, goldenDirs, goldenFiles, IN_REPO_GOLDEN } from "./dirs.ts";

Deno.test("the in-repo fixture set comes first and GOLDEN_DIR adds folders, each once", () => {
  // (An explicit value: the default is this process's GOLDEN_DIR, which CI sets.)
  assert.deepEqual(goldenDirs(""), [IN_REPO_GOLDEN]);
  assert.deepEqual(goldenDirs(["/x", IN_REPO_GOLDEN, "/y", "/x"].join(delimiter)), [
    IN_REPO_GOLDEN,
    "/x",
    "/y",
  ]);
});

Deno.test("the in-repo set holds every public fixture kind (scan, metrics, model pairs)", async () => {
  const names = (await goldenFiles(() => true, [IN_REPO_GOLDEN])).map((p) =>
    p.split(/[\\/]/).pop()
  );
  assert.deepEqual(names, [
    "metrics_isic_a.safetensors",
    "metrics_vol_a.safetensors",
    "metrics_vol_spacing.safetensors",
    "scan_grouped.safetensors",
    "vmunet_t16_bin.case.safetensors",
    "vmunet_t16_bin.weights.safetensors",
    "vmunet_t16_mc9.case.safetensors",
    "vmunet_t16_mc9.weights.safetensors",
  ]);
});

Deno.test("a missing or empty fixture folder fails loudly, naming the folder", async () => {
  const empty = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(empty, "README.md"), "no fixtures here");
    const missing = join(empty, "nope");
    for (const dir of [missing, empty]) {
      await assert.rejects(
        goldenFiles(() => true, [IN_REPO_GOLDEN, dir]),
        (e: unknown) => e instanceof GoldenDirError && e.dir === dir && e.message.includes(dir),
      );
    }
    await assert.rejects(
      goldenFiles((name) => name.startsWith("nothing_"), [IN_REPO_GOLDEN]),
      /no matching golden fixture/,
    );
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});
