/**
 * Where the commands write: standard output and error by default, a buffer in tests.
 *
 * @module
 */

/** The output sink of a command. */
export interface Io {
  /** Writes text to standard output (no newline added). */
  write(text: string): void;
  /** Writes one line to standard error. */
  error(line: string): void;
  /** Whether standard output is a terminal (live progress lines). */
  tty: boolean;
}

/** The process's standard output and error. */
export function stdio(): Io {
  const encoder = new TextEncoder();
  return {
    write: (text) => {
      Deno.stdout.writeSync(encoder.encode(text));
    },
    error: (line) => {
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    },
    tty: Deno.stdout.isTerminal(),
  };
}

/** An in-memory sink (tests): everything written, in order. */
export interface BufferIo extends Io {
  /** Standard output so far. */
  readonly out: string[];
  /** Standard error lines so far. */
  readonly err: string[];
}

/** Creates an in-memory sink. */
export function bufferIo(tty = false): BufferIo {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    tty,
    write: (text) => {
      out.push(text);
    },
    error: (line) => {
      err.push(line);
    },
  };
}
