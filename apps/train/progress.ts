/**
 * Progress output in the style of the tools people know: a live line rewritten in place on a
 * terminal, plain lines otherwise (logs, CI).
 *
 * @module
 */

/** What one progress update shows. */
export interface ProgressState {
  /** Label, e.g. `epoch 3/8`. */
  label: string;
  /** Steps done. */
  step: number;
  /** Steps in total. */
  total: number;
  /** Named values, e.g. `{ loss: 0.31 }`. */
  values?: Record<string, number>;
  /** Throughput in images/s. */
  imagesPerSecond?: number;
  /** Estimated seconds left (of this epoch or pass). */
  etaSeconds?: number;
  /** Estimated seconds left of the whole run, shown beside the ETA. */
  runEtaSeconds?: number;
}

/** Formats seconds as `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}

/** Formats a progress line (no trailing newline). */
export function formatProgress(state: ProgressState, width = 24): string {
  const frac = state.total > 0 ? Math.min(1, state.step / state.total) : 0;
  const filled = Math.round(frac * width);
  const bar = "█".repeat(filled) + "░".repeat(width - filled);
  const values = Object.entries(state.values ?? {})
    .map(([k, v]) => `${k} ${Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(4)}`)
    .join("  ");
  const speed = state.imagesPerSecond === undefined
    ? ""
    : `  ${state.imagesPerSecond.toFixed(1)} img/s`;
  const run = state.runEtaSeconds === undefined
    ? ""
    : ` (run ${formatDuration(state.runEtaSeconds)})`;
  const eta = state.etaSeconds === undefined
    ? ""
    : `  ETA ${formatDuration(state.etaSeconds)}${run}`;
  const steps = `${String(state.step).padStart(String(state.total).length)}/${state.total}`;
  return `${state.label} ${bar} ${steps}${values ? "  " + values : ""}${speed}${eta}`;
}

/** Writes progress: rewritten in place on a terminal, one plain line per `plainEvery` otherwise. */
export class ProgressWriter {
  #tty: boolean;
  #plainEvery: number;
  #write: (text: string) => void;

  /**
   * @param options `tty` (default: whether stdout is a terminal), `plainEvery` (plain-mode
   *   line interval in steps, default 10), `write` (default: stdout).
   */
  constructor(
    options: { tty?: boolean; plainEvery?: number; write?: (text: string) => void } = {},
  ) {
    this.#tty = options.tty ?? Deno.stdout.isTerminal();
    this.#plainEvery = options.plainEvery ?? 10;
    const encoder = new TextEncoder();
    this.#write = options.write ?? ((t) => Deno.stdout.writeSync(encoder.encode(t)));
  }

  /** Shows an update. */
  update(state: ProgressState): void {
    if (this.#tty) this.#write(`\r\x1b[2K${formatProgress(state)}`);
    else if (state.step % this.#plainEvery === 0 || state.step === state.total) {
      this.#write(formatProgress(state) + "\n");
    }
  }

  /** Ends the live line (a newline on a terminal). */
  done(): void {
    if (this.#tty) this.#write("\n");
  }

  /** Prints a whole line (clearing a live line first). */
  line(text: string): void {
    this.#write(this.#tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
  }
}
