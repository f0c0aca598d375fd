/**
 * Where the golden fixtures are: the public set committed in `testdata/golden/`, then every
 * folder named in `GOLDEN_DIR` (separated like `PATH`: `:` here, `;` on Windows), which adds
 * further fixture sets. A folder that is missing or holds no fixture is an error, never a
 * reason to skip: the fixtures are the project's numerical contract.
 *
 * @module
 */

import { basename, delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The fixture set committed with the project (`testdata/golden` at its root). */
export const IN_REPO_GOLDEN: string = fileURLToPath(
  new URL("../../testdata/golden", import.meta.url),
);

/** A fixture folder that is missing, unreadable or empty. */
export class GoldenDirError extends Error {
  /** Creates the error for `dir`; `detail` says what is wrong with it. */
  constructor(readonly dir: string, detail: string) {
    super(`golden fixture folder ${dir}: ${detail}`);
    this.name = "GoldenDirError";
  }
}

/**
 * The fixture folders: {@linkcode IN_REPO_GOLDEN}, then each folder of `goldenDirEnv`
 * (default: the `GOLDEN_DIR` environment variable) resolved against the working directory,
 * each once.
 *
 * @param goldenDirEnv The value of `GOLDEN_DIR` (undefined or empty: none).
 * @returns Absolute folder paths, in-repo first.
 *
 * @example
 * ```ts
 * import { delimiter } from "node:path";
 * import { goldenDirs, IN_REPO_GOLDEN } from "./dirs.ts";
 * const dirs = goldenDirs(["/a", "", "/b", "/a"].join(delimiter));
 * if (dirs.join(",") !== [IN_REPO_GOLDEN, "/a", "/b"].join(",")) throw new Error(String(dirs));
 * ```
 */
export function goldenDirs(
  goldenDirEnv: string | undefined = Deno.env.get("GOLDEN_DIR"),
): string[] {
  const dirs = [IN_REPO_GOLDEN];
  for (const part of (goldenDirEnv ?? "").split(delimiter)) {
    if (part === "") continue;
    const dir = resolve(part);
    if (!dirs.includes(dir)) dirs.push(dir);
  }
  return dirs;
}

/**
 * The `*.safetensors` files of one fixture folder, sorted.
 *
 * @param dir The folder.
 * @returns Full paths.
 * @throws {GoldenDirError} when the folder is missing, unreadable or has no `*.safetensors`.
 */
export async function safetensorsIn(dir: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".safetensors")) found.push(join(dir, entry.name));
    }
  } catch (error) {
    throw new GoldenDirError(dir, `cannot be read (${String(error)})`);
  }
  if (found.length === 0) throw new GoldenDirError(dir, "holds no *.safetensors fixture");
  return found.sort();
}

/**
 * Every fixture file, across all {@linkcode goldenDirs}, whose name satisfies `accepts`.
 *
 * @param accepts Which file names (no folder) to keep.
 * @param dirs The folders (default {@linkcode goldenDirs}()).
 * @returns Full paths, folder by folder.
 * @throws {GoldenDirError} when any folder is missing or empty.
 * @throws {Error} when no file in any folder is accepted.
 *
 * @example
 * ```ts
 * import { goldenFiles } from "./dirs.ts";
 * const scans = await goldenFiles((name) => name.startsWith("scan_"));
 * if (!scans[0].endsWith("scan_grouped.safetensors")) throw new Error(scans[0]);
 * ```
 */
export async function goldenFiles(
  accepts: (fileName: string) => boolean,
  dirs: string[] = goldenDirs(),
): Promise<string[]> {
  const paths: string[] = [];
  for (const dir of dirs) {
    for (const path of await safetensorsIn(dir)) {
      if (accepts(basename(path))) paths.push(path);
    }
  }
  if (paths.length === 0) {
    throw new Error(`no matching golden fixture in ${dirs.join(", ")}`);
  }
  return paths;
}
