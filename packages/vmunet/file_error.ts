/**
 * The base of the errors about one file of checkpoint I/O (ZIP archive, pickle, `.pth`,
 * checkpoint): the message starts with the file's name.
 *
 * @module
 */

/**
 * An error about one file; its message is `source: message`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileError, PickleError } from "@vmunet/vmunet";
 * const e = new PickleError("model.pth", "pickle truncated");
 * assert.ok(e instanceof FileError);
 * assert.equal(e.message, "model.pth: pickle truncated");
 * assert.equal(e.name, "PickleError");
 * ```
 */
export class FileError extends Error {
  /** The class name (subclasses give their own). */
  override name = "FileError";

  /**
   * Creates the error.
   *
   * @param source The file at fault (a path, or a label such as `<pickle>`).
   * @param message What is wrong with it.
   */
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
  }
}
