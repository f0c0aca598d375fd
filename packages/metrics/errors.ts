/**
 * Typed errors of the metrics package. Each names the argument, shape, index or value at
 * fault and what was expected.
 *
 * @module
 */

/** Base class of every error raised by `@vmunet/metrics`; `name` is the concrete class's. */
export class MetricsError extends Error {
  /** Creates a metrics error with the given message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Raised when two inputs that must match (prediction and truth, data and shape) do not;
 * the message names both shapes.
 */
export class ShapeMismatchError extends MetricsError {}

/**
 * Raised for a label that is not an integer in `0..classes-1`; the message names the input,
 * the flat index and the value.
 */
export class InvalidLabelError extends MetricsError {}

/**
 * Raised for a probability or mask value that is NaN (or otherwise unusable); the message
 * names the input, the flat index and the value.
 */
export class InvalidValueError extends MetricsError {}

/**
 * Raised for a bad option: spacing, threshold, class count, rank; the message names the
 * option and what was expected.
 */
export class InvalidOptionError extends MetricsError {}
