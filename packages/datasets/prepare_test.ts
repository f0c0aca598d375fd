import assert from "node:assert/strict";
import { zipSync } from "fflate";
import { FIXTURE_SIZES, pairPixels } from "./_fixtures.ts";
import { DatasetLayoutError } from "./errors.ts";
import { encodeJpeg, encodePng } from "./image_codec.ts";
import { openIsic } from "./isic.ts";
import { downloadIsicArchives, prepareIsic } from "./prepare.ts";

async function archives(dir: string, count: number, dropMask?: number): Promise<string[]> {
  const input: Record<string, Uint8Array> = {
    "ISIC2018_Task1-2_Training_Input/LICENSE.txt": new Uint8Array([65]),
  };
  const truth: Record<string, Uint8Array> = {};
  for (let k = 0; k < count; k++) {
    const [w, h] = FIXTURE_SIZES[k % FIXTURE_SIZES.length];
    const { rgb, mask } = pairPixels(w, h, k);
    const id = `ISIC_${String(1000 + k).padStart(7, "0")}`;
    input[`ISIC2018_Task1-2_Training_Input/${id}.jpg`] = encodeJpeg(rgb, w, h, 95);
    if (k !== dropMask) {
      truth[`ISIC2018_Task1_Training_GroundTruth/${id}_segmentation.png`] = encodePng({
        width: w,
        height: h,
        channels: 1,
        data: mask,
      });
    }
  }
  const a = `${dir}/ISIC2018_Task1-2_Training_Input.zip`,
    b = `${dir}/ISIC2018_Task1_Training_GroundTruth.zip`;
  await Deno.writeFile(a, zipSync(input, { level: 1 }));
  await Deno.writeFile(b, zipSync(truth, { level: 0 }));
  return [a, b];
}

Deno.test("prepareIsic() writes the official layout with a seeded 7:3 split that openIsic reads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "prepare_test_" });
  try {
    const zips = await archives(dir, 20);
    const r = await prepareIsic({ archives: zips, out: `${dir}/isic2018`, seed: 42 });
    assert.deepEqual([r.train, r.val], [14, 6]);
    const again = await prepareIsic({ archives: zips, out: `${dir}/again`, seed: 42, png: true });
    assert.equal(again.val, 6);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/isic2018/split.json`));
    assert.deepEqual(
      manifest.val,
      JSON.parse(await Deno.readTextFile(`${dir}/again/split.json`)).val,
    );
    assert.equal(new Set([...manifest.train, ...manifest.val]).size, 20);
    const train = await openIsic({ root: `${dir}/isic2018`, split: "train", size: 16 });
    const val = await openIsic({ root: `${dir}/again`, split: "val", size: 16 });
    assert.equal(train.length, 14);
    assert.deepEqual(val.names, manifest.val);
    assert.ok(val.pairs[0].image.endsWith(".png"));
    const s = await val.get(0);
    assert.ok(s.mask.some((v) => v === 1));
    const leftovers = [...Deno.readDirSync(dir)].filter((e) => e.name.includes(".partial-"));
    assert.equal(leftovers.length, 0);
    const exact = await prepareIsic({ archives: zips, out: `${dir}/exact`, valCount: 5 });
    assert.deepEqual([exact.train, exact.val], [15, 5]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prepareIsic() refuses an image without mask and an existing output, leaving nothing behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "prepare_test_" });
  try {
    const zips = await archives(dir, 6, 3);
    await assert.rejects(
      prepareIsic({ archives: zips, out: `${dir}/out` }),
      (e) =>
        e instanceof DatasetLayoutError &&
        /Training_Input\.zip:ISIC2018_Task1-2_Training_Input\/ISIC_0001003\.jpg: image without mask/
          .test(e.message),
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "ISIC2018_Task1-2_Training_Input.zip",
      "ISIC2018_Task1_Training_GroundTruth.zip",
    ]);
    await Deno.mkdir(`${dir}/taken`);
    const ok = await archives(dir, 4);
    await assert.rejects(
      prepareIsic({ archives: ok, out: `${dir}/taken` }),
      (e) => e instanceof DatasetLayoutError && /taken: output folder exists/.test(e.message),
    );
    await Deno.writeFile(`${dir}/cut.zip`, (await Deno.readFile(ok[0])).subarray(0, 100));
    await assert.rejects(
      prepareIsic({ archives: [`${dir}/cut.zip`], out: `${dir}/o2` }),
      (e) => e instanceof Error && /cut\.zip: not a zip archive or truncated/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadIsicArchives() streams each archive to a temp file, renames it, and skips complete ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "download_test_" });
  const served: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    served.push(path);
    if (path.includes("Validation_GroundTruth")) return new Response("missing", { status: 404 });
    return new Response(new TextEncoder().encode(`zip bytes of ${path}`));
  });
  try {
    const baseUrl = `http://127.0.0.1:${server.addr.port}/`;
    await assert.rejects(
      downloadIsicArchives({ version: "isic2018", dir: `${dir}/dl`, baseUrl }),
      (e) =>
        e instanceof DatasetLayoutError &&
        /ISIC2018_Task1_Validation_GroundTruth\.zip: download failed: HTTP 404/.test(e.message),
    );
    const names = [...Deno.readDirSync(`${dir}/dl`)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "ISIC2018_Task1-2_Training_Input.zip",
      "ISIC2018_Task1-2_Validation_Input.zip",
      "ISIC2018_Task1_Training_GroundTruth.zip",
    ]);
    assert.equal(
      await Deno.readTextFile(`${dir}/dl/ISIC2018_Task1-2_Training_Input.zip`),
      "zip bytes of /2018/ISIC2018_Task1-2_Training_Input.zip",
    );
    const skipped: string[] = [];
    await assert.rejects(
      downloadIsicArchives({
        version: "isic2018",
        dir: `${dir}/dl`,
        baseUrl,
        onArchive: (n, s) => s && skipped.push(n),
      }),
    );
    assert.equal(skipped.length, 3);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
