/**
 * A run's log, `log.jsonl` in the run folder: one JSON record a line (an epoch, an
 * evaluation, an error), appended as training goes and kept in memory for the report.
 *
 * @module
 */

import {
  type EpochSummary,
  type Evaluation,
  evaluationRecord,
  type ValidationOutcome,
} from "@vmunet/vmunet/training";
import type { Series } from "./report.ts";
import { appendJsonl, readJsonl, writeAtomic } from "./run_dir.ts";

/** One line of `log.jsonl`: `type` is `"epoch"`, `"eval"` or `"error"`. */
export type LogRecord = Record<string, unknown>;

/** The records of one run, mirrored in its `log.jsonl`. */
export class RunLog {
  /** The `log.jsonl` file. */
  readonly path: string;
  /** Every record so far, oldest first. */
  records: LogRecord[] = [];

  /** Creates the log of the run in `runDir` (nothing is read or written yet). */
  constructor(runDir: string) {
    this.path = `${runDir}/log.jsonl`;
  }

  /** Appends a record to the file and to {@linkcode records}. */
  async append(record: LogRecord): Promise<void> {
    this.records.push(record);
    await appendJsonl(this.path, record);
  }

  /** Logs an ended epoch: its learning rate, mean and per-step losses, time and speed. */
  async epochEnded(e: EpochSummary): Promise<void> {
    await this.append({
      type: "epoch",
      epoch: e.epoch,
      lr: e.lr,
      trainLoss: e.trainLoss,
      steps: e.losses.length,
      losses: e.losses,
      seconds: e.seconds,
      imagesPerSecond: e.imagesPerSecond,
      time: new Date().toISOString(),
    });
  }

  /** Logs the validation after an epoch (`best` when it improved the selection metric). */
  async validated(v: ValidationOutcome): Promise<void> {
    await this.append({
      type: "eval",
      epoch: v.epoch,
      split: "val",
      ...evaluationRecord(v.evaluation),
      best: v.improved,
      seconds: v.seconds,
      time: new Date().toISOString(),
    });
  }

  /** Logs the final evaluation of the best checkpoint (of `epoch`) and returns its record. */
  async bestEvaluated(epoch: number, evaluation: Evaluation, seconds: number): Promise<LogRecord> {
    const record = {
      type: "eval",
      epoch,
      split: "val",
      checkpoint: "best",
      final: true,
      ...evaluationRecord(evaluation),
      seconds,
      time: new Date().toISOString(),
    };
    await this.append(record);
    return record;
  }

  /** Logs the error that stopped the run in `epoch`. */
  async failed(epoch: number | undefined, message: string): Promise<void> {
    await this.append({ type: "error", epoch, message, time: new Date().toISOString() });
  }

  /**
   * Reads the log of a resumed run. Records written after the checkpoint (a crash between the
   * log and the save) are dropped, from memory and from the file.
   *
   * @param epoch The last epoch the checkpoint holds.
   */
  async resume(epoch: number): Promise<void> {
    const records = await readJsonl(this.path);
    const kept = records.filter((r) => (r.epoch as number) <= epoch);
    if (kept.length !== records.length) {
      await writeAtomic(this.path, kept.map((r) => JSON.stringify(r) + "\n").join(""));
    }
    this.records = kept;
  }

  /** The validation record (not a final evaluation) of `epoch`, if one was logged. */
  validationOf(epoch: number): LogRecord | undefined {
    return this.records.find((r) => r.type === "eval" && r.epoch === epoch && !r.final);
  }

  /** The report's charts by epoch: losses, validation metrics, learning rate. */
  charts(): [string, Series[]][] {
    const epochs = this.records.filter((r) => r.type === "epoch");
    const evals = this.records.filter((r) => r.type === "eval" && !r.final);
    const pts = (rs: LogRecord[], key: string) =>
      rs.filter((r) => typeof r[key] === "number")
        .map((r) => [r.epoch as number, r[key] as number] as [number, number]);
    return [
      ["Loss", [
        { name: "train", points: pts(epochs, "trainLoss") },
        { name: "validation", points: pts(evals, "valLoss") },
      ]],
      ["Validation metrics", [
        { name: "DSC", points: pts(evals, "dsc") },
        { name: "mIoU", points: pts(evals, "miou") },
      ]],
      ["Learning rate", [{ name: "lr", points: pts(epochs, "lr") }]],
    ];
  }
}
