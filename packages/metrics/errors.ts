/**
 * Typed errors of the metrics package. Each names the argument, shape, index or value at
 * fault and what was expected.
 *
 * @module
 */

/** Base class of every error raised by `@vmunet/metrics`. */
export class MetricsError extends Error {
  /** Creates a metrics error with the given message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MetricsError";
  }
}

/** Raised when two inputs that must match (prediction and truth, data and shape) do not. */
export class ShapeMismatchError extends MetricsError {
  /** Creates the error; the message names both shapes. */
  constructor(message: string) {
    super(message);
    this.name = "ShapeMismatchError";
  }
}

/** Raised for a label that is not an integer in `0..classes-1`. */
export class InvalidLabelError extends MetricsError {
  /** Creates the error; the message names the input, the flat index and the value. */
  constructor(message: string) {
    super(message);
    this.name = "InvalidLabelError";
  }
}

/** Raised for a probability or mask value that is NaN (or otherwise unusable). */
export class InvalidValueError extends MetricsError {
  /** Creates the error; the message names the input, the flat index and the value. */
  constructor(message: string) {
    super(message);
    this.name = "InvalidValueError";
  }
}

/** Raised for a bad option: spacing, threshold, class count, rank. */
export class InvalidOptionError extends MetricsError {
  /** Creates the error; the message names the option and what was expected. */
  constructor(message: string) {
    super(message);
    this.name = "InvalidOptionError";
  }
}
