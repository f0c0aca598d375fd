/**
 * The VM-UNet command line: `train`, `eval` and `predict` (`deno task train`, `deno task eval`,
 * `deno task predict`).
 *
 * - `train`: with no flags, a small VM-UNet on the built-in synthetic dataset; `--preset
 *   isic17 | isic18 | synapse --data DIR` for the paper's settings; runs in `runs/<name>/`
 *   with `config.json`, `log.jsonl`, `last`/`best` checkpoints and `report.html`; `--resume`
 *   continues bit for bit; Ctrl-C, SIGTERM and SIGHUP save a checkpoint and exit.
 * - `eval --checkpoint FILE [--data DIR]`: the paper's table as markdown and JSON.
 * - `predict --checkpoint FILE --input IMAGE|FOLDER|VOLUME.npy.h5 --out DIR`: masks and
 *   overlays.
 *
 * Exit codes: 0 done, 1 error, 2 usage error (flags, data folder, run folder), 3 non-finite
 * loss, 130 / 143 / 129 stopped by Ctrl-C / SIGTERM / SIGHUP (after saving a checkpoint).
 *
 * @example
 * ```ts ignore
 * import { main } from "@vmunet/train";
 * Deno.exit(await main(["train", "--epochs", "1"]));
 * ```
 *
 * @module
 */

import { parseEvalArgs, parsePredictArgs, parseTrainArgs, usage } from "./cli.ts";
import { DataFolderError } from "./data.ts";
import { runEval } from "./eval_command.ts";
import { type Io, stdio } from "./io.ts";
import { runPredict } from "./predict.ts";
import { RunDirError } from "./run_dir.ts";
import { EXIT_INTERRUPTED, runTrain, type TrainRunOptions } from "./train.ts";
import { UsageError } from "./train_config.ts";

export type { Io } from "./io.ts";
export type { StepInfo, StepModel, TrainRunOptions } from "./train.ts";

/**
 * Exit code of a usage error: unknown flag, preset or bad value, missing data folder, a run
 * folder that already holds a run, an unwritable run folder.
 */
export const EXIT_USAGE = 2;

/** Options of {@linkcode main}. */
export interface MainOptions {
  /** Output sink (default: standard output and error). */
  io?: Io;
  /**
   * Stop signal for `train` (default: Ctrl-C, SIGTERM and SIGHUP when `main` runs the
   * process: the first one saves a checkpoint and exits, a second one exits at once).
   */
  signal?: AbortSignal;
  /** Test hooks of `train`. */
  afterStep?: TrainRunOptions["afterStep"];
}

/** The stop signals `train` saves on, with their exit codes (128 + the signal number). */
const STOP_SIGNALS: readonly { name: Deno.Signal; code: number; label: string }[] = [
  { name: "SIGINT", code: 130, label: "Ctrl-C" },
  { name: "SIGTERM", code: 143, label: "SIGTERM" },
  { name: "SIGHUP", code: 129, label: "SIGHUP" },
];

/**
 * Runs `fn` with an abort signal raised by Ctrl-C, SIGTERM (docker, systemd, Slurm,
 * Kubernetes) or SIGHUP: the first one finishes the current step and saves a checkpoint, a
 * second one exits at once. Returns the run's exit code, 128 + the signal number when a
 * signal stopped it (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
 */
async function withStopSignals(
  fn: (signal: AbortSignal) => Promise<number>,
  io: Io,
): Promise<number> {
  const controller = new AbortController();
  let received: (typeof STOP_SIGNALS)[number] | undefined;
  const listeners: [Deno.Signal, () => void][] = [];
  for (const s of STOP_SIGNALS) {
    const listener = () => {
      if (controller.signal.aborted) Deno.exit(s.code);
      received = s;
      io.error(
        `\n${s.label}: finishing the current step and saving a checkpoint (again to quit now)`,
      );
      controller.abort();
    };
    try {
      Deno.addSignalListener(s.name, listener);
      listeners.push([s.name, listener]);
    } catch {
      // This platform does not deliver this signal (Windows has SIGINT and SIGBREAK only).
    }
  }
  try {
    const code = await fn(controller.signal);
    return code === EXIT_INTERRUPTED && received ? received.code : code;
  } finally {
    for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
  }
}

/**
 * Runs one command and returns the process exit code; errors are printed, not thrown.
 *
 * @param args `train|eval|predict` followed by its flags.
 * @param options Output sink, stop signal, hooks.
 * @returns 0 done, 1 error, 2 usage error, 3 non-finite loss, 130 / 143 / 129 stopped by
 *   Ctrl-C / SIGTERM / SIGHUP.
 */
export async function main(args: string[], options: MainOptions = {}): Promise<number> {
  const io = options.io ?? stdio();
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "train": {
        const parsed = parseTrainArgs(rest);
        if (parsed.help) {
          io.write(usage("train") + "\n");
          return 0;
        }
        const run = async (signal: AbortSignal | undefined) =>
          (await runTrain(parsed, io, { signal, afterStep: options.afterStep })).code;
        return options.signal || options.io
          ? await run(options.signal)
          : await withStopSignals(run, io);
      }
      case "eval": {
        const parsed = parseEvalArgs(rest);
        if (parsed.help) {
          io.write(usage("eval") + "\n");
          return 0;
        }
        await runEval(parsed, io);
        return 0;
      }
      case "predict": {
        const parsed = parsePredictArgs(rest);
        if (parsed.help) {
          io.write(usage("predict") + "\n");
          return 0;
        }
        const { files, skipped } = await runPredict(parsed, io);
        if (skipped.length === 0) return 0;
        io.error(
          `error: ${skipped.length} of ${files.length + skipped.length} input file(s) skipped:`,
        );
        for (const s of skipped) io.error(`  ${s.input}: ${s.reason}`);
        return 1;
      }
      case "--help":
      case "-h":
      case "help":
        io.write(usage("main") + "\n");
        return 0;
      default:
        if (command === undefined) io.write(usage("main") + "\n");
        throw new UsageError(
          `unknown command ${command === undefined ? "(none)" : `"${command}"`}; ` +
            `valid commands: train, eval, predict`,
        );
    }
  } catch (error) {
    if (
      error instanceof UsageError || error instanceof RunDirError ||
      error instanceof DataFolderError
    ) {
      io.error(`error: ${error.message} (see --help)`);
      return EXIT_USAGE;
    }
    const e = error as Error;
    io.error(`error: ${e.name && e.name !== "Error" ? `${e.name}: ` : ""}${e.message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
