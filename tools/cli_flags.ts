/**
 * Flag parsing of the repository's dev commands (`deno task bench`, `deno task golden`):
 * `node:util` `parseArgs`, a bad flag reported in one line with exit code 2, `--help`
 * printing the usage with exit code 0.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** What `parseArgs` returns for the configuration `T`: `values` and `positionals`. */
export type ParsedFlags<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

/**
 * Parses a command's flags, or says why the command ends here.
 *
 * @param command The command's name, the prefix of the error line (`bench: …`).
 * @param usage The text `--help` prints (the options should include a boolean `help`).
 * @param config `parseArgs` configuration: `args`, `options`, `allowPositionals`.
 * @returns The parsed flags, or the exit code: 2 after a bad flag (reported on stderr), 0
 *   after `--help`.
 * @example
 * ```ts
 * import { parseCommandFlags } from "./cli_flags.ts";
 * const parsed = parseCommandFlags("demo", "usage: demo [--n N]", {
 *   args: ["--n", "3"],
 *   options: { n: { type: "string" }, help: { type: "boolean" } },
 * });
 * if (typeof parsed === "number" || parsed.values.n !== "3") throw new Error("parsed");
 * ```
 */
export function parseCommandFlags<T extends ParseArgsConfig>(
  command: string,
  usage: string,
  config: T,
): ParsedFlags<T> | number {
  let parsed: ParsedFlags<T>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    console.error(`${command}: ${(error as Error).message.split(". ")[0]} (see --help)`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    return 0;
  }
  return parsed;
}
