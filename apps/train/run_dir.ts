/**
 * The run folder (`runs/<name>/`): created and checked before training starts, written
 * atomically, never silently overwritten.
 *
 * @module
 */

import { statfsSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "@vmunet/vmunet/fs";

/** Raised when the run folder cannot be used; the message names the folder and the fix. */
export class RunDirError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "RunDirError";
  }
}

/** Options of {@linkcode prepareRunDir}. */
export interface PrepareRunDirOptions {
  /** Continue the run already in the folder. */
  resume?: boolean;
  /** Replace the run already in the folder. */
  force?: boolean;
  /** Free bytes required on the folder's file system (default 256 MiB). */
  minFreeBytes?: number;
  /** Told when a folder without a checkpoint is started over. */
  note?: (line: string) => void;
}

/** The checkpoint a run folder resumes from. */
export const LAST_CHECKPOINT = "last.safetensors";

/** The files a run writes, removed when a run that never saved a checkpoint starts over. */
const RUN_FILES = ["config.json", "log.jsonl", "report.html", "best.safetensors"];

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/**
 * Creates (or reopens, with `resume`) a run folder and checks that it is writable and has
 * room, before any training work starts. A folder whose run stopped before its first
 * checkpoint (only `config.json`, perhaps a log) holds nothing to keep: it is started over,
 * with or without `resume`.
 *
 * @param dir The run folder.
 * @param options `resume`, `force` and the free-space requirement.
 * @returns Whether training continues from the folder's checkpoint (`resume` and one exists).
 * @throws {RunDirError} if a run with a checkpoint exists without `resume`/`force`, if
 *   `resume` finds no run, or if the folder is unwritable or its disk is full.
 */
export async function prepareRunDir(
  dir: string,
  options: PrepareRunDirOptions = {},
): Promise<boolean> {
  const existing = await exists(join(dir, "config.json"));
  const checkpoint = existing && await exists(join(dir, LAST_CHECKPOINT));
  if (checkpoint && !options.resume && !options.force) {
    throw new RunDirError(
      `${dir} already holds a run: pass --resume to continue it or --force to replace it`,
    );
  }
  if (!existing && options.resume) {
    throw new RunDirError(`--resume: ${dir} holds no run (no config.json) to resume`);
  }
  if (existing && options.force && !options.resume) {
    await Deno.remove(dir, { recursive: true });
  } else if (existing && !checkpoint) {
    options.note?.(
      `${dir} holds a run that stopped before its first checkpoint: starting it over`,
    );
    for (const f of RUN_FILES) await Deno.remove(join(dir, f)).catch(() => {});
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
    const probe = join(dir, `.write-test-${Deno.pid}`);
    await Deno.writeTextFile(probe, "ok");
    await Deno.remove(probe);
  } catch (error) {
    throw new RunDirError(`cannot write to ${dir}: ${(error as Error).message}`);
  }
  const need = options.minFreeBytes ?? 256 * 2 ** 20;
  try {
    const fs = statfsSync(dir);
    const free = Number(fs.bavail) * Number(fs.bsize);
    if (free < need) {
      throw new RunDirError(
        `${dir}: only ${(free / 2 ** 20).toFixed(0)} MiB free, need ${
          (need / 2 ** 20).toFixed(0)
        } MiB for checkpoints`,
      );
    }
  } catch (error) {
    if (error instanceof RunDirError) throw error;
    // statfs unavailable on this platform: the atomic writes still protect the checkpoints.
  }
  return checkpoint && options.resume === true;
}

/**
 * Writes a file atomically (temporary file beside it, then rename).
 *
 * @param path Destination.
 * @param data Bytes or text.
 */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await writeFileAtomic(path, typeof data === "string" ? new TextEncoder().encode(data) : data);
}

/** Appends one JSON record as a line to `log.jsonl`-style files. */
export async function appendJsonl(path: string, record: Record<string, unknown>): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(record) + "\n", { append: true });
}

/** Reads every record of a JSON-lines file (an absent file is empty). */
export async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}
