/**
 * Typed errors of the tensor engine. Every message names the op and the shapes at fault.
 *
 * @module
 */

/** Base class of every error raised by a tensor op or the engine; `name` is the concrete class's. */
export class TensorError extends Error {
  /** The op (or engine method) that raised the error, e.g. `"matmul"`. */
  readonly op: string;
  /** Creates the error; the message is prefixed with the op's name. */
  constructor(op: string, message: string, options?: ErrorOptions) {
    super(`${op}: ${message}`, options);
    this.name = new.target.name;
    this.op = op;
  }
}

/** Shapes that do not fit together (broadcasting, matmul inner sizes, reshape sizes, axes). */
export class ShapeError extends TensorError {}

/** A tensor of the wrong element type (`f32` where `i32` is needed or the reverse). */
export class DtypeError extends TensorError {}

/** A tensor used after `dispose()` (or after its scope ended). */
export class DisposedTensorError extends TensorError {
  /** Creates the error naming the op that touched the disposed tensor and its shape. */
  constructor(op: string, shape: readonly number[], label?: string) {
    super(
      op,
      `tensor ${label ? `"${label}" ` : ""}of shape [${shape.join(", ")}] was disposed ` +
        `(explicitly or when its engine.scope() ended); keep it with engine.keep() or return it ` +
        `from the scope`,
    );
  }
}

/** Misuse of autograd: backward on a tensor that does not require grad, bad seed, etc. */
export class GradError extends TensorError {}

/** Formats a shape as `[a, b, c]` for error messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
