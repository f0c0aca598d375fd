/**
 * File-system helpers of `@vmunet/tensor` for Deno (the `@vmunet/tensor/fs` export; a browser
 * never imports it). The core package parses bytes (`parseSafetensors`); these read
 * the file and name it in every error.
 *
 * @example
 * ```ts
 * import { serializeSafetensors } from "@vmunet/tensor/safetensors";
 * import { readSafetensors } from "@vmunet/tensor/fs";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await Deno.writeFile(path, serializeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } }));
 * const file = await readSafetensors(path);
 * if (file.float32("w")[1] !== 2) throw new Error("round trip");
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

import { parseSafetensors, type SafetensorsFile } from "./safetensors.ts";

/**
 * Reads and parses a safetensors file from disk.
 *
 * @param path The file.
 * @returns The parsed file.
 * @throws {SafetensorsError} naming the path on a malformed file.
 */
export async function readSafetensors(path: string | URL): Promise<SafetensorsFile> {
  return parseSafetensors(await Deno.readFile(path), String(path));
}
