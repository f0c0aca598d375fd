import assert from "node:assert/strict";
import { parseSafetensors } from "@vmunet/tensor/safetensors";
import { readJsonl } from "./run_dir.ts";
import { cliArgs, runMain, TINY_RUN } from "./_testing.ts";

/** One epoch of 48 synthetic 32×32 images (6 steps of 8), a dims-8 model, no workers. */
const TINY = [...TINY_RUN, "--synthetic-count", "48"];

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

Deno.test("SIGTERM and SIGHUP during training save a checkpoint and exit 143 / 129; --resume then ends bit for bit where an uninterrupted run ends", async () => {
  const runs = await Deno.makeTempDir({ prefix: "vmunet-signal-" });
  try {
    const whole = await runMain(["train", "--runs-dir", runs, "--name", "w", ...TINY]);
    assert.equal(whole.code, 0, whole.err);
    const losses = async (name: string) =>
      (await readJsonl(`${runs}/${name}/log.jsonl`)).filter((r) => r.type === "epoch")
        .map((r) => r.losses);
    const expected = await weightBytes(`${runs}/w/last.safetensors`);
    for (const [signal, exitCode] of [["SIGTERM", 143], ["SIGHUP", 129]] as const) {
      const child = new Deno.Command(Deno.execPath(), {
        args: cliArgs(["train", "--runs-dir", runs, "--name", signal, ...TINY]),
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
      assert.equal(code, exitCode, err);
      assert.match(err, new RegExp(`${signal}: finishing the current step and saving`));
      assert.match(
        out,
        new RegExp(`interrupted.*saved .*last\\.safetensors.*--resume --name ${signal}`),
      );
      const state = JSON.parse(
        parseSafetensors(await Deno.readFile(`${runs}/${signal}/last.safetensors`)).metadata
          .train_state,
      );
      assert.ok(state.globalStep >= 1 && state.globalStep <= 6, `step ${state.globalStep}`);

      const resumed = await runMain(
        ["train", "--runs-dir", runs, "--name", signal, "--resume", ...TINY],
      );
      assert.equal(resumed.code, 0, resumed.err);
      assert.deepEqual(await losses(signal), await losses("w"));
      const got = await weightBytes(`${runs}/${signal}/last.safetensors`);
      assert.deepEqual([...got.keys()], [...expected.keys()]);
      for (const [key, bytes] of got) assert.deepEqual(bytes, expected.get(key), key);
    }
  } finally {
    await Deno.remove(runs, { recursive: true });
  }
});
