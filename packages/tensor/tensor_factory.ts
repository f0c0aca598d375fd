/**
 * Tensor factories: new tensors from the pool (empty, from data, filled), parameters,
 * adopted external buffers and views, each tracked by the engine's current scope.
 *
 * @module
 */

import type { Engine } from "./engine.ts";
import { type Dtype, Storage, Tensor } from "./tensor.ts";
import { formatShape, ShapeError } from "./tensor_errors.ts";
import { sizeOf } from "./_row_major.ts";

/** Options of tensor factories. */
export interface TensorOptions {
  /** Element type (default `f32`). */
  dtype?: Dtype;
  /** Whether gradients flow to it (default false). */
  requiresGrad?: boolean;
  /** Name quoted in errors. */
  label?: string;
}

function checkShape(op: string, shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(op, `invalid shape ${formatShape(shape)}`);
    }
  }
}

/** The factories of one engine (the engine's methods of the same names delegate here). */
export class TensorFactory {
  readonly #engine: Engine;
  readonly #track: (t: Tensor) => Tensor;

  /**
   * Factories creating tensors of `engine`, each passed to `track` (the scope stack).
   *
   * @param engine The owner of the tensors.
   * @param track Registers a new tensor with the current scope.
   */
  constructor(engine: Engine, track: (t: Tensor) => Tensor) {
    this.#engine = engine;
    this.#track = track;
  }

  #release = (b: GPUBuffer): void => this.#engine.pool.release(b);

  /** See `Engine.empty`. */
  empty(shape: readonly number[], dtype: Dtype = "f32"): Tensor {
    checkShape("empty", shape);
    const bytes = sizeOf(shape) * 4;
    const buffer = this.#engine.pool.acquire(bytes);
    const storage = new Storage(buffer, bytes, this.#release);
    return this.#track(new Tensor(this.#engine, storage, shape, dtype));
  }

  /** See `Engine.tensor`. */
  tensor(
    data: ArrayLike<number> | Float32Array | Int32Array,
    shape: readonly number[],
    options: TensorOptions = {},
  ): Tensor {
    checkShape("tensor", shape);
    const dtype = options.dtype ?? "f32";
    const size = sizeOf(shape);
    if (data.length !== size) {
      throw new ShapeError(
        "tensor",
        `${data.length} values do not fill shape ${formatShape(shape)} (${size} elements)`,
      );
    }
    const typed = dtype === "i32"
      ? (data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>))
      : (data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>));
    const bytes = size * 4;
    const buffer = this.#engine.pool.acquire(bytes, true);
    if (bytes > 0) {
      this.#engine.device.queue.writeBuffer(buffer, 0, typed.buffer, typed.byteOffset, bytes);
    }
    const storage = new Storage(buffer, bytes, this.#release);
    const t = new Tensor(this.#engine, storage, shape, dtype, options.requiresGrad ?? false);
    t.label = options.label;
    return this.#track(t);
  }

  /** See `Engine.full`. */
  full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
    const dtype = options.dtype ?? "f32";
    const t = this.empty(shape, dtype);
    t.requiresGrad = options.requiresGrad ?? false;
    t.label = options.label;
    this.fill(t, value);
    return t;
  }

  /** See `Engine.fill`. */
  fill(t: Tensor, value: number): void {
    if (t.size === 0) return;
    const engine = this.#engine;
    const i32 = t.dtype === "i32";
    const kernel = engine.kernel(i32 ? "fill.i32" : "fill", () => ({
      params: { n: "u32", value: i32 ? "i32" : "f32" },
      bindings: [{ name: "y", access: "read_write", type: i32 ? "array<i32>" : "array<f32>" }],
      code: `@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, 256u);
  if (i < params.n) { y[i] = params.value; }
}`,
    }));
    engine.dispatch({
      kernel,
      bindings: [t],
      params: { n: t.size, value },
      workgroups: engine.grid(t.size, 256),
      op: "fill",
    });
  }

  /** See `Engine.adopt` (which supplies the defaults). */
  adopt(
    buffer: GPUBuffer,
    shape: readonly number[],
    dtype: Dtype,
    release: (buffer: GPUBuffer) => void,
  ): Tensor {
    const bytes = sizeOf(shape) * 4;
    if (buffer.size < bytes) {
      throw new ShapeError("adopt", `buffer of ${buffer.size} bytes < shape ${formatShape(shape)}`);
    }
    return this.#track(new Tensor(this.#engine, new Storage(buffer, bytes, release), shape, dtype));
  }

  /** See `Engine.view`. */
  view(t: Tensor, shape: readonly number[]): Tensor {
    const storage = t.storageFor("view");
    const size = sizeOf(shape);
    if (size !== t.size) {
      throw new ShapeError(
        "view",
        `cannot view ${formatShape(t.shape)} (${t.size} elements) as ${formatShape(shape)}`,
      );
    }
    storage.refs++;
    return this.#track(new Tensor(this.#engine, storage, shape, t.dtype));
  }
}
