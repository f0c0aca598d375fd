import assert from "node:assert/strict";
import { formatDuration, formatProgress, ProgressWriter } from "./progress.ts";
import { lineChartSvg, renderReport } from "./report.ts";
import { appendJsonl, prepareRunDir, readJsonl, RunDirError, writeAtomic } from "./run_dir.ts";

Deno.test("prepareRunDir() reports a disk without room for the checkpoints before training", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      prepareRunDir(`${dir}/run`, { minFreeBytes: 2 ** 62 }),
      (e: Error) =>
        e instanceof RunDirError && /run: only \d+ MiB free, need \d+ MiB/.test(e.message),
    );
    assert.equal(await prepareRunDir(`${dir}/ok`), false);
    await Deno.writeTextFile(`${dir}/ok/config.json`, "{}");
    await Deno.writeTextFile(`${dir}/ok/last.safetensors`, "");
    assert.equal(await prepareRunDir(`${dir}/ok`, { resume: true }), true);
    await Deno.writeTextFile(`${dir}/ok/old.txt`, "x");
    await prepareRunDir(`${dir}/ok`, { force: true });
    assert.equal(await Deno.stat(`${dir}/ok/old.txt`).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeAtomic() replaces a file without leaving temporaries; JSONL round-trips", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeAtomic(`${dir}/a.json`, "1");
    await writeAtomic(`${dir}/a.json`, new Uint8Array([50]));
    assert.equal(await Deno.readTextFile(`${dir}/a.json`), "2");
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["a.json"]);
    await appendJsonl(`${dir}/log.jsonl`, { epoch: 1, loss: 0.5 });
    await appendJsonl(`${dir}/log.jsonl`, { epoch: 2, loss: 0.25 });
    assert.deepEqual(await readJsonl(`${dir}/log.jsonl`), [
      { epoch: 1, loss: 0.5 },
      { epoch: 2, loss: 0.25 },
    ]);
    assert.deepEqual(await readJsonl(`${dir}/missing.jsonl`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("progress lines show step/total, values, images/s and ETA; live on a terminal, plain otherwise", () => {
  assert.equal(formatDuration(75), "1:15");
  assert.equal(formatDuration(3725), "1:02:05");
  const line = formatProgress({
    label: "epoch 2/8",
    step: 64,
    total: 128,
    values: { loss: 0.25, lr: 4e-4 },
    imagesPerSecond: 52.3,
    etaSeconds: 30,
    runEtaSeconds: 200,
  }, 8);
  assert.equal(
    line,
    "epoch 2/8 ████░░░░  64/128  loss 0.2500  lr 4.00e-4  52.3 img/s  ETA 0:30 (run 3:20)",
  );
  const tty: string[] = [];
  new ProgressWriter({ tty: true, write: (t) => tty.push(t) }).update({
    label: "e",
    step: 1,
    total: 2,
  });
  assert.ok(tty[0].startsWith("\r\x1b[2K"));
  const plain: string[] = [];
  const writer = new ProgressWriter({ tty: false, plainEvery: 2, write: (t) => plain.push(t) });
  for (let s = 1; s <= 3; s++) writer.update({ label: "e", step: s, total: 3 });
  writer.done();
  assert.equal(plain.length, 2); // step 2 and the last step
  assert.ok(plain.every((l) => l.endsWith("\n") && !l.includes("\x1b")));
});

Deno.test("the report is one self-contained page with SVG curves and escaped text", () => {
  const svg = lineChartSvg("Loss", [{ name: "train", points: [[1, 1], [2, 0.5]] }]);
  assert.match(svg, /<path d="M52\.0,\d+\.\dL448\.0,\d+\.\d"/);
  assert.match(lineChartSvg("Empty", []), /no data yet/);
  const png = new Uint8Array([137, 80, 78, 71]);
  const html = renderReport("run <1>", { data: "a & b" }, [["Loss", []]], [
    { name: "x", image: png, truth: png, prediction: png, dice: 0.5 },
  ]);
  assert.match(html, /<title>run &lt;1&gt;<\/title>/);
  assert.match(html, /<td>a &amp; b<\/td>/);
  assert.equal(html.match(/src="data:image\/png;base64,iVBORw=="/g)?.length, 3);
  assert.match(html, /Dice 0\.500/);
  assert.doesNotMatch(html, /src="http/);
});
