/**
 * Typed errors of the selective-scan kernels.
 *
 * @module
 */

/** Raised when a shape, option or buffer given to a scan kernel is invalid; the message names it. */
export class ScanShapeError extends Error {
  /** Creates the error with a message naming the offending shape, option or buffer. */
  constructor(message: string) {
    super(message);
    this.name = "ScanShapeError";
  }
}
