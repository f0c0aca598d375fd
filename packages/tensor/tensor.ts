/**
 * The `Tensor`: a shape, a dtype and a (possibly shared) pooled GPU buffer, plus autograd
 * state.
 *
 * @module
 */

import type { Engine } from "./engine.ts";
import { DisposedTensorError } from "./tensor_errors.ts";

/** Element types of a tensor. */
export type Dtype = "f32" | "i32";

/** A node of the define-by-run tape: the op that produced some tensors. */
export interface TapeNode {
  /** The op's name (quoted in errors). */
  readonly op: string;
  /** The op's inputs, in order. */
  readonly inputs: readonly Tensor[];
  /** The op's outputs (the tensors this node produced). */
  readonly outputs: readonly Tensor[];
  /**
   * Given ∂L/∂output for every output (`null` where the output got no gradient), returns
   * ∂L/∂input for every input (`null` where an input needs none). Runs with recording off.
   */
  readonly backward: (gradOutputs: readonly (Tensor | null)[]) => readonly (Tensor | null)[];
}

/** A GPU buffer shared by a tensor and its views, returned to the pool when the last goes. */
export class Storage {
  /** The pooled (or external) GPU buffer. */
  readonly buffer: GPUBuffer;
  /** Bytes of tensor data (≤ `buffer.size`). */
  readonly byteLength: number;
  /** Number of tensors viewing this storage. */
  refs = 1;
  /** Called when the last view is disposed (returns the buffer to the pool). */
  readonly #release: (buffer: GPUBuffer) => void;

  /** Wraps `buffer`; `release` runs when the last view lets go. */
  constructor(buffer: GPUBuffer, byteLength: number, release: (buffer: GPUBuffer) => void) {
    this.buffer = buffer;
    this.byteLength = byteLength;
    this.#release = release;
  }

  /** Drops one reference; releases the buffer at zero. */
  unref(): void {
    if (--this.refs === 0) this.#release(this.buffer);
  }
}

let nextTensorId = 1;

/** The id the next tensor will get (tensors created later have ids ≥ this). */
export function nextTensorId_(): number {
  return nextTensorId;
}

/**
 * An n-dimensional array on the GPU: contiguous row-major data of `shape` in a pooled buffer.
 * Create tensors with the engine (`engine.tensor`, `engine.zeros`, `engine.parameter`) or ops.
 */
export class Tensor {
  /** The engine that owns the tensor. */
  readonly engine: Engine;
  /** Sizes of each dimension (row-major, last dimension contiguous). */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: Dtype;
  /** Number of elements (product of the shape; 1 for a scalar of shape `[]`). */
  readonly size: number;
  /** Unique increasing id (creation order). */
  readonly id: number;
  /** Whether gradients flow to this tensor. */
  requiresGrad: boolean;
  /** Accumulated gradient (leaves that require grad, after `backward()`), or null. */
  grad: Tensor | null = null;
  /** Optional name quoted in errors (parameters get their state-dict key). */
  label: string | undefined;
  /** The tape node that produced the tensor (null for leaves and under `noGrad`). */
  node: TapeNode | null = null;
  /** Set by a scope that tracks the tensor (internal bookkeeping). */
  scope: Set<Tensor> | null = null;
  #storage: Storage | null;

  /** Internal: use the engine's factories. Wraps `storage` (whose reference it takes). */
  constructor(
    engine: Engine,
    storage: Storage,
    shape: readonly number[],
    dtype: Dtype,
    requiresGrad = false,
  ) {
    this.engine = engine;
    this.#storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = shape.reduce((a, b) => a * b, 1);
    this.requiresGrad = requiresGrad;
    this.id = nextTensorId++;
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** Bytes of data (4 per element). */
  get byteLength(): number {
    return this.size * 4;
  }

  /** Whether `dispose()` was called (or the tensor's scope ended). */
  get isDisposed(): boolean {
    return this.#storage === null;
  }

  /**
   * The GPU buffer holding the data (row-major from byte 0; the buffer may be larger than
   * `byteLength`). Custom ops bind it in their own bind groups.
   *
   * @throws {DisposedTensorError} after `dispose()`.
   */
  get buffer(): GPUBuffer {
    return this.storageFor("buffer").buffer;
  }

  /**
   * The shared storage, checking the tensor is alive.
   *
   * @param op The op that needs it (named in the error).
   * @returns The storage.
   * @throws {DisposedTensorError} after `dispose()`.
   */
  storageFor(op: string): Storage {
    if (!this.#storage) throw new DisposedTensorError(op, this.shape, this.label);
    return this.#storage;
  }

  /**
   * Returns the buffer to the pool (when no view shares it) and disposes `grad`.
   * Idempotent. Using the tensor afterwards raises {@linkcode DisposedTensorError}.
   */
  dispose(): void {
    if (!this.#storage) return;
    this.#storage.unref();
    this.#storage = null;
    this.scope?.delete(this);
    this.scope = null;
    this.node = null;
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /**
   * Reads the data back to the CPU (flushes pending work; ≥ 10 ms: call rarely).
   *
   * @returns `Float32Array` for `f32`, `Int32Array` for `i32`.
   */
  read(): Promise<Float32Array | Int32Array> {
    return this.engine.read(this);
  }

  /**
   * Back-propagates from this tensor: seeds with ones for a scalar (or `seed`), accumulates
   * into `.grad` of every leaf that requires grad.
   *
   * @param seed ∂L/∂this, same shape (required unless the tensor has one element).
   */
  backward(seed?: Tensor): void {
    this.engine.backward(this, seed);
  }

  /** A short description: `Tensor(f32 [2, 3])`. */
  toString(): string {
    return `Tensor(${this.dtype} [${this.shape.join(", ")}]${this.isDisposed ? " disposed" : ""})`;
  }
}
