/**
 * File-system helpers of `@vmunet/vmunet` for Deno (the `@vmunet/vmunet/fs` export; a browser
 * never imports it): read a checkpoint by path, write weights atomically. The core package
 * parses and serialises bytes; these add the file and name it in every error.
 *
 * @example
 * ```ts
 * import { Engine } from "@vmunet/tensor";
 * import { preset, VMUNet } from "@vmunet/vmunet";
 * import { readCheckpoint, saveModel } from "@vmunet/vmunet/fs";
 * const engine = await Engine.create();
 * const model = VMUNet.create(engine, preset("vmunet-t", { dims: 8 }), { seed: 1 });
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveModel(model, path, { epoch: "1" });
 * const file = await readCheckpoint(path);
 * if (file.metadata.epoch !== "1" || model.load(file).missing.length !== 0) throw new Error("round trip");
 * await Deno.remove(path);
 * await engine.sync();
 * engine.destroy();
 * ```
 *
 * @module
 */

import { type CheckpointFile, parseCheckpoint } from "./checkpoint.ts";
import type { VMUNet } from "./model.ts";
import { parsePth, type ParsePthOptions, stateDictOf } from "./pth.ts";
import type { SafetensorsEntry } from "@vmunet/tensor/safetensors";

/**
 * Reads a checkpoint file of either format (safetensors or an official `.pth`, detected from
 * its bytes); errors name `path`.
 *
 * @param path The file.
 * @param options `.pth` options (unknown-global policy, nested key).
 * @returns The tensors, metadata and configuration when recorded.
 */
export async function readCheckpoint(
  path: string,
  options: ParsePthOptions & { key?: string } = {},
): Promise<CheckpointFile> {
  return await parseCheckpoint(await Deno.readFile(path), path, options);
}

/**
 * Reads a `.pth` file from disk and returns its model state dict; errors name `path`.
 *
 * @param path The checkpoint file.
 * @param options Unknown-global policy and the nested key to use.
 * @returns Tensors by parameter name.
 */
export async function readPthStateDict(
  path: string,
  options: ParsePthOptions & { key?: string } = {},
): Promise<Map<string, SafetensorsEntry>> {
  return await stateDictOf(await parsePth(await Deno.readFile(path), path, options), options.key);
}

/**
 * Writes bytes atomically: to a temporary file beside `path`, then renamed over it, so a
 * crash never leaves a half-written checkpoint.
 *
 * @param path Destination.
 * @param bytes Contents.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${Date.now()}`;
  try {
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/**
 * Saves a model's weights as safetensors (official keys, configuration in the metadata),
 * written atomically.
 *
 * @param model The model.
 * @param path Destination file.
 * @param metadata Extra metadata strings.
 */
export async function saveModel(
  model: VMUNet,
  path: string,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, await model.serialize(metadata));
}

export { evaluateVolumes, type EvaluateVolumesOptions } from "./training/volumes.ts";
