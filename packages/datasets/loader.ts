/**
 * The data loader: seeded shuffling, batching, deterministic augmentation for a given seed,
 * epoch and sample, and decoding/augmentation in Web Workers with bounded prefetch.
 *
 * The batch sequence depends only on the dataset, `seed`, `epoch`, `batchSize`, `shuffle` and
 * `dropLast` — never on the number of workers or on timing.
 *
 * @module
 */

import { fromWire, type WireError } from "./_errors_wire.ts";
import { DatasetError, DatasetOptionError } from "./errors.ts";
import { Rng } from "./random.ts";
import { type Batch, type Dataset, stackSamples } from "./sample.ts";

/** Options of {@linkcode DataLoader}. */
export interface LoaderOptions {
  /** Samples per batch. */
  batchSize: number;
  /** Shuffle the order every epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffling (default 42; augmentation uses the dataset's own seed). */
  seed?: number;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /**
   * Web Workers that decode and augment (default: hardware threads − 1, at most 4; 0 = on
   * the calling thread).
   */
  workers?: number;
  /** Batches in flight ahead of the consumer (default 2 per worker, at least 1). */
  prefetch?: number;
}

interface Pending {
  resolve: (b: Batch) => void;
  reject: (e: Error) => void;
}

interface WorkerSlot {
  worker: Worker;
  ready: Promise<void>;
  inFlight: number;
}

/**
 * Batches a dataset.
 *
 * @example
 * ```ts
 * import { DataLoader, SyntheticDataset } from "@vmunet/datasets";
 * const loader = new DataLoader(new SyntheticDataset({ count: 10, size: 16 }), { batchSize: 4, workers: 0 });
 * const sizes = [];
 * for await (const batch of loader.epoch(0)) sizes.push(batch.size);
 * console.assert(loader.length === 3 && sizes.join() === "4,4,2");
 * await loader.close();
 * ```
 */
export class DataLoader {
  /** The dataset. */
  readonly dataset: Dataset;
  /** Samples per batch. */
  readonly batchSize: number;
  /** Whether the order is shuffled. */
  readonly shuffle: boolean;
  /** Shuffling seed. */
  readonly seed: number;
  /** Whether the last incomplete batch is dropped. */
  readonly dropLast: boolean;
  /** Number of workers (0 = main thread). */
  readonly workers: number;
  /** Batches in flight. */
  readonly prefetch: number;

  #slots: WorkerSlot[] | null = null;
  #pending = new Map<number, Pending>();
  #nextId = 0;
  #closed = false;

  /** Creates the loader; workers start on the first epoch. */
  constructor(dataset: Dataset, options: LoaderOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new DatasetOptionError(
        "batchSize",
        `must be a positive integer, got ${options.batchSize}`,
      );
    }
    const hw = (globalThis.navigator?.hardwareConcurrency ?? 1) - 1;
    const workers = options.workers ?? Math.max(0, Math.min(4, hw));
    if (!Number.isInteger(workers) || workers < 0) {
      throw new DatasetOptionError("workers", `must be an integer ≥ 0, got ${options.workers}`);
    }
    const prefetch = options.prefetch ?? Math.max(1, 2 * workers);
    if (!Number.isInteger(prefetch) || prefetch < 1) {
      throw new DatasetOptionError("prefetch", `must be an integer ≥ 1, got ${options.prefetch}`);
    }
    this.dataset = dataset;
    this.batchSize = options.batchSize;
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 42;
    this.dropLast = options.dropLast ?? false;
    this.workers = workers;
    this.prefetch = prefetch;
  }

  /** Batches requested from the workers and not yet returned (≤ `prefetch`). */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The sample order of `epoch` (a seeded permutation, or 0..n-1 without shuffling). */
  order(epoch: number): Int32Array {
    const n = this.dataset.length;
    if (!this.shuffle) return Int32Array.from({ length: n }, (_, i) => i);
    return Rng.derive(this.seed, "shuffle", epoch).permutation(n);
  }

  /** The dataset indices of every batch of `epoch`. */
  batches(epoch: number): number[][] {
    const order = this.order(epoch);
    const out: number[][] = [];
    for (let b = 0; b < this.length; b++) {
      out.push(
        Array.from(
          order.subarray(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize)),
        ),
      );
    }
    return out;
  }

  /**
   * The batches of `epoch`, in order, built ahead by the workers (at most `prefetch` in flight).
   *
   * @param epoch Epoch number (0-based); selects the shuffle and the augmentation.
   * @returns An async iterator of batches.
   */
  async *epoch(epoch: number): AsyncGenerator<Batch> {
    if (this.#closed) throw new DatasetError("DataLoader is closed");
    const plan = this.batches(epoch);
    if (this.workers === 0) {
      for (const indices of plan) {
        const samples = await Promise.all(indices.map((i) => this.dataset.get(i, epoch)));
        yield stackSamples(samples, indices);
      }
      return;
    }
    const queue: Promise<Batch>[] = [];
    let next = 0;
    const submit = () => {
      while (queue.length < this.prefetch && next < plan.length) {
        const p = this.#request(epoch, plan[next++]);
        p.catch(() => {}); // observed when awaited below; avoid unhandled rejections meanwhile
        queue.push(p);
      }
    };
    submit();
    while (queue.length > 0) {
      const batch = await queue.shift()!;
      submit();
      yield batch;
    }
  }

  #startWorkers(): WorkerSlot[] {
    if (this.#slots) return this.#slots;
    const url = new URL("./_worker.ts", import.meta.url).href;
    this.#slots = Array.from({ length: this.workers }, () => {
      const worker = new Worker(url, { type: "module" });
      let markReady: () => void, failReady: (e: Error) => void;
      const ready = new Promise<void>((res, rej) => {
        markReady = res;
        failReady = rej;
      });
      ready.catch(() => {});
      const slot: WorkerSlot = { worker, ready, inFlight: 0 };
      worker.onmessage = (e: MessageEvent) => {
        const msg = e.data as { type: string; id?: number; batch?: Batch; error?: WireError };
        if (msg.type === "ready") return markReady();
        if (msg.type === "init-error") return failReady(fromWire(msg.error!));
        const pending = this.#pending.get(msg.id!);
        if (!pending) return;
        this.#pending.delete(msg.id!);
        slot.inFlight--;
        if (msg.type === "batch") pending.resolve(msg.batch!);
        else pending.reject(fromWire(msg.error!));
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        const err = new DatasetError(`loader worker crashed: ${e.message}`);
        failReady(err);
        for (const [id, p] of this.#pending) {
          this.#pending.delete(id);
          p.reject(err);
        }
      };
      worker.postMessage({ type: "init", spec: this.dataset.spec });
      return slot;
    });
    return this.#slots;
  }

  async #request(epoch: number, indices: number[]): Promise<Batch> {
    const slots = this.#startWorkers();
    const slot = slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    slot.inFlight++;
    await slot.ready;
    const id = this.#nextId++;
    return new Promise<Batch>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      slot.worker.postMessage({ type: "batch", id, epoch, indices });
    });
  }

  /** Stops the workers; pending batches are rejected. */
  close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#slots ?? []) s.worker.terminate();
    this.#slots = null;
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(new DatasetError("DataLoader closed"));
    }
    return Promise.resolve();
  }
}
