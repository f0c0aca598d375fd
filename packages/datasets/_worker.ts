/**
 * Loader worker: opens the dataset from its spec, then builds whole batches on request and
 * transfers them back.
 *
 * @module
 */

import { toWire } from "./_errors_wire.ts";
import { openDataset } from "./open.ts";
import { stackSamples } from "./sample.ts";
import type { Dataset, DatasetSpec } from "./sample.ts";

/** Messages the loader sends. */
type Request =
  | { type: "init"; spec: DatasetSpec }
  | { type: "batch"; id: number; epoch: number; indices: number[] };

declare const self: {
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

let dataset: Promise<Dataset> | null = null;

self.onmessage = async (e: MessageEvent<Request>) => {
  const msg = e.data;
  if (msg.type === "init") {
    dataset = openDataset(msg.spec);
    try {
      await dataset;
      self.postMessage({ type: "ready" });
    } catch (err) {
      self.postMessage({ type: "init-error", error: toWire(err) });
    }
    return;
  }
  // One batch at a time: concurrent batches in one worker only add memory pressure.
  queue = queue.then(() => build(msg));
};

let queue: Promise<void> = Promise.resolve();

async function build(msg: Extract<Request, { type: "batch" }>): Promise<void> {
  try {
    const ds = await dataset!;
    const samples = await Promise.all(msg.indices.map((i) => ds.get(i, msg.epoch)));
    const batch = stackSamples(samples, msg.indices);
    self.postMessage({ type: "batch", id: msg.id, batch }, [
      batch.images.buffer,
      batch.masks.buffer,
    ]);
  } catch (err) {
    self.postMessage({ type: "error", id: msg.id, error: toWire(err) });
  }
}
