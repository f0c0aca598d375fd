/**
 * Typed errors of the kernel-authoring vocabulary.
 *
 * @module
 */

/**
 * A kernel parameter declaration or value that does not fit: a name that is not a WGSL
 * identifier, too many words, a missing, unknown or too long value, an array in a uniform.
 * The message names the kernel and the param at fault.
 */
export class KernelParamError extends Error {
  /** The kernel (its cache key, or the op dispatching it). */
  readonly kernel: string;
  /** The param at fault, when one is. */
  readonly param: string | undefined;
  /** Creates the error; the message is prefixed with the kernel's name. */
  constructor(kernel: string, message: string, param?: string) {
    super(`${kernel}: ${message}`);
    this.name = "KernelParamError";
    this.kernel = kernel;
    this.param = param;
  }
}
