import assert from "node:assert/strict";
import { parseSafetensors } from "@vmunet/tensor/safetensors";
import { bufferIo } from "./io.ts";
import { main } from "./main.ts";
import { readJsonl } from "./run_dir.ts";

/** One epoch of 48 synthetic 32×32 images (6 steps of 8), a dims-8 model, no workers. */
const TINY = [
  "--image-size",
  "32",
  "--dims",
  "8",
  "--depths",
  "1,1,1,1",
  "--depths-decoder",
  "1,1,1,1",
  "--synthetic-count",
  "48",
  "--synthetic-val-count",
  "8",
  "--batch-size",
  "8",
  "--eval-batch-size",
  "8",
  "--workers",
  "0",
  "--log-every",
  "1",
  "--report-images",
  "0",
  "--epochs",
  "1",
];

/** The model tensors of a checkpoint (optimizer state and metadata left out), by key. */
async function weightBytes(path: string): Promise<Map<string, Uint8Array>> {
  const file = parseSafetensors(await Deno.readFile(path));
  const out = new Map<string, Uint8Array>();
  for (const [key, entry] of file.tensors) {
    if (!key.startsWith("optimizer.")) out.set(key, entry.bytes);
  }
  return out;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  return text;
}

for (const signal of ["SIGTERM", "SIGHUP"] as const) {
  Deno.test(`${signal} during training saves a checkpoint, exits ${signal === "SIGTERM" ? 143 : 129}, and --resume ends bit for bit where an uninterrupted run ends`, async () => {
    const runs = await Deno.makeTempDir({ prefix: "vmunet-signal-" });
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("./main.ts", import.meta.url).pathname,
          "train",
          "--runs-dir",
          runs,
          "--name",
          "z",
          ...TINY,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderr = readAll(child.stderr);
      // Wait for the header line printed just before the first step, then send the signal.
      let out = "";
      const decoder = new TextDecoder();
      const reader = child.stdout.getReader();
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      while (!/^train {5}/m.test(out)) {
        const { value, done } = await reader.read();
        if (done) break;
        out += decoder.decode(value, { stream: true });
      }
      assert.match(out, /^train {5}/m, "the run did not start stepping");
      child.kill(signal);
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        out += decoder.decode(r.value, { stream: true });
      }
      const { code } = await child.status;
      clearTimeout(timer);
      const err = await stderr;
      assert.equal(code, signal === "SIGTERM" ? 143 : 129, err);
      assert.match(err, new RegExp(`${signal}: finishing the current step and saving`));
      assert.match(out, /interrupted.*saved .*last\.safetensors.*--resume --name z/);
      const state = JSON.parse(
        parseSafetensors(await Deno.readFile(`${runs}/z/last.safetensors`)).metadata.train_state,
      );
      assert.ok(state.globalStep >= 1 && state.globalStep <= 6, `step ${state.globalStep}`);

      const resumed = bufferIo();
      const resumeCode = await main(
        ["train", "--runs-dir", runs, "--name", "z", "--resume", ...TINY],
        { io: resumed },
      );
      assert.equal(resumeCode, 0, resumed.err.join("\n"));
      const whole = bufferIo();
      const wholeCode = await main(["train", "--runs-dir", runs, "--name", "w", ...TINY], {
        io: whole,
      });
      assert.equal(wholeCode, 0, whole.err.join("\n"));
      const losses = async (name: string) =>
        (await readJsonl(`${runs}/${name}/log.jsonl`)).filter((r) => r.type === "epoch")
          .map((r) => r.losses);
      assert.deepEqual(await losses("z"), await losses("w"));
      const a = await weightBytes(`${runs}/z/last.safetensors`);
      const b = await weightBytes(`${runs}/w/last.safetensors`);
      assert.deepEqual([...a.keys()], [...b.keys()]);
      for (const [key, bytes] of a) assert.deepEqual(bytes, b.get(key), key);
    } finally {
      await Deno.remove(runs, { recursive: true });
    }
  });
}
