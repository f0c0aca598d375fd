/**
 * Reopens a dataset from its JSON recipe ({@linkcode DatasetSpec}), e.g. inside a worker.
 *
 * @module
 */

import { DatasetOptionError } from "./errors.ts";
import { type FolderOptions, openFolder } from "./folder.ts";
import { type IsicOptions, openIsic } from "./isic.ts";
import type { Dataset, DatasetSpec } from "./sample.ts";
import { openSynapse, type SynapseOptions } from "./synapse.ts";
import { SyntheticDataset, type SyntheticOptions } from "./synthetic.ts";

/**
 * Opens the dataset a spec describes.
 *
 * @param spec `{ kind, options }` as found in `dataset.spec`.
 * @returns The dataset.
 * @throws {DatasetOptionError} for an unknown kind.
 * @example
 * ```ts
 * import { SyntheticDataset } from "@vmunet/datasets";
 * import { openDataset } from "@vmunet/datasets/fs";
 * const a = new SyntheticDataset({ count: 2, size: 16 });
 * const b = await openDataset(a.spec);
 * console.assert(b.length === 2);
 * ```
 */
export function openDataset(spec: DatasetSpec): Promise<Dataset> {
  switch (spec.kind) {
    case "synthetic":
      return Promise.resolve(new SyntheticDataset(spec.options as SyntheticOptions));
    case "isic":
      return openIsic(spec.options as unknown as IsicOptions);
    case "folder":
      return openFolder(spec.options as unknown as FolderOptions);
    case "synapse":
      return openSynapse(spec.options as unknown as SynapseOptions);
    default:
      return Promise.reject(
        new DatasetOptionError(
          "kind",
          `unknown dataset kind ${JSON.stringify(spec.kind)} (synthetic, isic, folder, synapse)`,
        ),
      );
  }
}
