/**
 * Helpers of the train app's tests: the command line in this process or a child process, and
 * a tiny run.
 *
 * @module
 */

import { type BufferIo, bufferIo } from "./io.ts";
import { main, type MainOptions } from "./main.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

/** A tiny model on 32×32 inputs (dims 8, one block per stage) with no loader workers. */
export const TINY_MODEL: readonly string[] = [
  "--dims",
  "8",
  "--depths",
  "1,1,1,1",
  "--depths-decoder",
  "1,1,1,1",
  "--image-size",
  "32",
  "--workers",
  "0",
];

/** A tiny synthetic run: {@linkcode TINY_MODEL}, batches of 8, every loss read back, one epoch. */
export const TINY_RUN: readonly string[] = [
  ...TINY_MODEL,
  "--synthetic-val-count",
  "8",
  "--batch-size",
  "8",
  "--eval-batch-size",
  "8",
  "--log-every",
  "1",
  "--report-images",
  "0",
  "--epochs",
  "1",
];

/**
 * `train` in the run folder `${root}/runs/${name}` on the data in `${root}/data`, with `flags`.
 */
export function trainIn(root: string, name: string, flags: readonly string[]): string[] {
  return [
    "train",
    "--data",
    `${root}/data`,
    "--runs-dir",
    `${root}/runs`,
    "--name",
    name,
    ...flags,
  ];
}

/**
 * Runs {@linkcode main} in this process with captured output (no signal handlers are
 * installed: the captured `io` keeps `main` from listening for Ctrl-C).
 */
export async function runMain(
  args: readonly string[],
  options: Omit<MainOptions, "io"> = {},
): Promise<{ code: number; io: BufferIo; out: string; err: string }> {
  const io = bufferIo();
  const code = await main([...args], { io, ...options });
  return { code, io, out: io.out.join(""), err: io.err.join("\n") };
}

/** The `deno run` arguments of the command line with `args`. */
export function cliArgs(args: readonly string[]): string[] {
  return ["run", "-A", MAIN, ...args];
}

/** Runs the command line in a child process to its end. */
export async function cli(
  args: readonly string[],
): Promise<{ code: number; out: string; err: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: cliArgs(args),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, out: text.decode(stdout), err: text.decode(stderr) };
}

export { exists } from "./run_dir.ts";
