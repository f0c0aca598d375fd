/**
 * `@vmunet/datasets/fs`: the datasets read from the layouts people have on disk — ISIC
 * 2017/2018 releases, any folder of image/mask pairs, Synapse `.npz`/`.h5` — and
 * {@linkcode openDataset}, which reopens any of them (and the synthetic set) from its
 * `DatasetSpec` (how the loader's Web Workers rebuild a dataset). Deno only: a browser imports
 * `@vmunet/datasets`.
 *
 * @example
 * ```ts
 * import { openDataset } from "@vmunet/datasets/fs";
 * const dataset = await openDataset({ kind: "synthetic", options: { count: 2, size: 16, seed: 1 } });
 * if (dataset.length !== 2) throw new Error("two samples");
 * ```
 *
 * @module
 */

export { validatePairSizes } from "./_fs.ts";
export * from "./hdf5.ts";
export * from "./isic.ts";
export * from "./folder.ts";
export * from "./synapse.ts";
export * from "./open.ts";
