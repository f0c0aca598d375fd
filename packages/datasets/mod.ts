/**
 * `@vmunet/datasets`: the datasets VM-UNet trains on — ISIC 2017/2018, Synapse, any folder of
 * image/mask pairs and a seeded synthetic default — preprocessed exactly like the official
 * code, and batched by a seeded loader that decodes and augments in Web Workers. No GPU code.
 *
 * This entry point needs no file system and loads in a browser: synthetic data, transforms,
 * resize, PNG/JPEG decoding and PNG encoding of bytes, `.npy`/`.npz` of bytes, the loader. The
 * readers of the layouts on disk (`openIsic`, `openFolder`, `openSynapse`, `openDataset`,
 * HDF5) are in `@vmunet/datasets/fs`.
 *
 * Samples are channel-first `Float32Array`s `(C,H,W)`; batches `(B,C,H,W)`. Binary masks are
 * `Float32Array (B,1,H,W)`, multi-class labels `Int32Array (B,H,W)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DataLoader, SyntheticDataset } from "@vmunet/datasets";
 * const dataset = new SyntheticDataset({ count: 8, size: 32, seed: 42 });
 * const loader = new DataLoader(dataset, { batchSize: 4, seed: 42, workers: 0 });
 * for await (const batch of loader.epoch(0)) {
 *   assert.deepEqual([batch.size, batch.channels, batch.height, batch.width], [4, 3, 32, 32]);
 * }
 * await loader.close();
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./random.ts";
export * from "./sample.ts";
export * from "./synthetic.ts";
export * from "./resize.ts";
export * from "./transforms.ts";
export * from "./image_codec.ts";
export * from "./overlay.ts";
export * from "./npy.ts";
export * from "./split.ts";
export * from "./paired.ts";
export * from "./loader.ts";
