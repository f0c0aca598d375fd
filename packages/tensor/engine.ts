/**
 * The `Engine`: a thin facade over the kernel cache (`kernel_cache.ts`), the command stream
 * (`command_stream.ts`: encoder, pass, params ring, flush, readback), the tensor factories
 * and scopes (`tensor_factory.ts`, `scopes.ts`) and the tape (`tape.ts`).
 *
 * @module
 */

import { BufferPool, type PoolStats } from "./buffer_pool.ts";
import { type GpuContext, isSoftwareAdapter, requestGpu } from "./device.ts";
import { type Kernel, KernelCache, type KernelSpec } from "./kernel_cache.ts";
import type { ParamDecl } from "@vmunet/wgsl";
import { CommandStream, type DispatchOptions, type StreamStats } from "./command_stream.ts";
import { Scopes } from "./scopes.ts";
import { TensorFactory, type TensorOptions } from "./tensor_factory.ts";
import { Tape } from "./tape.ts";
import { grid1d, gridRows } from "@vmunet/wgsl";
import type { Dtype, Tensor } from "./tensor.ts";
import { formatShape, ShapeError, TensorError } from "./tensor_errors.ts";

export type { BindingAccess, Kernel, KernelBinding, KernelSpec } from "./kernel_cache.ts";
export type { ParamDecl, ParamType, ParamValue, ParamValues } from "@vmunet/wgsl";
export type { Bindable, DispatchOptions, StreamStats } from "./command_stream.ts";
export type { TensorOptions } from "./tensor_factory.ts";
export { grid1d, gridRows } from "@vmunet/wgsl";

/** Options of {@linkcode Engine}. */
export interface EngineOptions {
  /**
   * Matmul kernel family: `"register"` (register-blocked vec4, no workgroup memory; large
   * row-uniform tiles on CPU adapters such as lavapipe, 4×4 in 8×8 workgroups on GPUs),
   * `"tiled"` (shared-memory tiles), or `"auto"` (default: the family measured fastest,
   * currently `"register"` with the per-adapter tile).
   */
  matmul?: "register" | "tiled" | "auto";
  /**
   * Which adapter class the kernel choices are made for: `"cpu"` (software adapters such as
   * lavapipe: large register tiles, serial-row scans, channel-major scan backward, projected-Δ
   * inference scan), `"gpu"` (the choices for discrete GPUs), or `"auto"` (default: from the
   * adapter, see {@linkcode Engine.isCpuAdapter}). `"gpu"` on a software adapter runs the GPU
   * code paths, slowly, so that they can be checked without a GPU.
   */
  adapterClass?: "auto" | "cpu" | "gpu";
  /** Params slots per submit (default 4096, 256 bytes each); a full ring triggers a flush. */
  paramsSlots?: number;
  /**
   * Whether the process waits for this engine's GPU work before it exits (the `unload`
   * event, also sent by `Deno.exit()`) or dies of an uncaught error (default true). Deno
   * panics ("timed out while waiting on the last successful submission") when it drops a
   * device that still has long work in flight at exit. Under Deno the wait happens inside
   * `queue.onSubmittedWorkDone()` itself; the listeners go away with `destroy()`/`close()`.
   */
  waitOnExit?: boolean;
}

/** Global events at which a live engine waits for its GPU work (see `waitOnExit`). */
const EXIT_EVENTS = ["unload", "error", "unhandledrejection"] as const;

/** Counters returned by {@linkcode Engine.stats}. */
export interface EngineStats extends PoolStats, StreamStats {
  /** Compiled pipelines. */
  pipelines: number;
}

/**
 * The tensor engine: owns the device's pipelines, buffers, pending commands and tape.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { add, Engine } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const a = engine.tensor([1, 2, 3], [3], { requiresGrad: true });
 * const b = engine.tensor([10], [1]);
 * const loss = engine.scope(() => {
 *   const y = add(a, b); // broadcasting
 *   return y;
 * });
 * assert.deepEqual(Array.from(await loss.read()), [11, 12, 13]);
 * await engine.close(); // waits for the GPU, then destroys the device
 * ```
 *
 * Teardown: `await engine.close()` waits for every submitted command and destroys the
 * device; `destroy()` (synchronous) drops commands not yet submitted and destroys the device
 * at once when the engine knows its submitted work finished (a read or a sync since the last
 * submit), else as soon as the queue reports it done. Destroying a device with long work in
 * flight crashes Deno, so prefer `close()` after work that was flushed but not awaited.
 */
export class Engine {
  /** The device context (from `requestGpu()`). */
  readonly gpu: GpuContext;
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** The buffer pool every tensor comes from. */
  readonly pool: BufferPool;
  /** The matmul kernel family in use (`"register"` or `"tiled"`). */
  readonly matmulVariant: "register" | "tiled";
  /**
   * Whether kernel choices are made for a CPU/fallback adapter (lavapipe, llvmpipe,
   * SwiftShader): detected from the adapter unless `adapterClass` says otherwise. Every
   * per-adapter kernel choice of the packages reads this one flag.
   */
  readonly isCpuAdapter: boolean;
  /** The device's `maxComputeWorkgroupsPerDimension` (every grid of {@linkcode grid} fits it). */
  readonly maxWorkgroupsPerDimension: number;
  readonly #kernels: KernelCache;
  readonly #stream: CommandStream;
  readonly #scopes = new Scopes();
  readonly #factory: TensorFactory;
  readonly #tape = new Tape();
  #destroyed = false;
  #exitGuard: (() => void) | null = null;

  /**
   * Wraps a device context.
   *
   * @param gpu From `requestGpu()`.
   * @param options Kernel choices and sizes.
   */
  constructor(gpu: GpuContext, options: EngineOptions = {}) {
    this.gpu = gpu;
    this.device = gpu.device;
    this.pool = new BufferPool(gpu.device);
    const pick = options.matmul ?? "auto";
    const adapterClass = options.adapterClass ?? "auto";
    if (!["auto", "cpu", "gpu"].includes(adapterClass)) {
      throw new TypeError(
        `Engine: option adapterClass must be "auto", "cpu" or "gpu", got ${String(adapterClass)}`,
      );
    }
    this.isCpuAdapter = adapterClass === "auto"
      ? isSoftwareAdapter(gpu.adapterInfo)
      : adapterClass === "cpu";
    // Measured (BENCHMARKS.md): on lavapipe the register-blocked kernel with large,
    // row-uniform tiles wins by ~10×; on an H200 the register-blocked 4×4 kernel beat the
    // shared-memory one as well, so "auto" takes the register family with a per-adapter
    // tile, and the shared-memory family stays selectable with { matmul: "tiled" }.
    this.matmulVariant = pick === "auto" ? "register" : pick;
    this.maxWorkgroupsPerDimension = gpu.device.limits.maxComputeWorkgroupsPerDimension;
    this.#kernels = new KernelCache(gpu.device, gpu.subgroupsDirective);
    this.#stream = new CommandStream(
      gpu,
      this.pool,
      options.paramsSlots ?? 4096,
      (op) => this.#checkAlive(op),
    );
    this.#factory = new TensorFactory(this, (t) => this.#scopes.track(t));
    if (options.waitOnExit ?? true) {
      const guard = () => this.#waitAtExit();
      this.#exitGuard = guard;
      for (const type of EXIT_EVENTS) globalThis.addEventListener?.(type, guard);
    }
  }

  /**
   * Acquires a device with `requestGpu()` (unless given) and creates an engine on it.
   *
   * @param gpu An existing device context (default: a new one).
   * @param options Kernel choices and sizes.
   * @returns The engine.
   */
  static async create(gpu?: GpuContext, options: EngineOptions = {}): Promise<Engine> {
    return new Engine(gpu ?? await requestGpu(), options);
  }

  // ---------------------------------------------------------------- kernels and dispatch

  /**
   * Compiles a kernel once per key (later calls return the cached one without building the
   * spec again). Give the key once: `kernel(key, () => ({ bindings, code }))`, or a whole
   * spec `kernel({ key, bindings, code })`.
   *
   * @param keyOrSpec The cache key (then `build` makes the spec), or the whole spec.
   * @param build Returns the bindings and code (called on a cache miss only).
   * @returns The compiled kernel.
   */
  kernel<P extends ParamDecl = ParamDecl>(
    keyOrSpec: string | KernelSpec<P>,
    build?: () => Omit<KernelSpec<P>, "key">,
  ): Kernel<P> {
    if (typeof keyOrSpec === "string") {
      if (!build) throw new TypeError(`Engine.kernel("${keyOrSpec}"): missing build function`);
      return this.#kernels.kernel(keyOrSpec, build);
    }
    return this.#kernels.kernel(keyOrSpec.key, () => keyOrSpec);
  }

  /**
   * Workgroup counts covering `n` invocations of a 1-D kernel of `workgroupSize` on this
   * device (split over x and y past `maxComputeWorkgroupsPerDimension`; kernels recover the
   * linear index with `lin(gid, nwg, workgroupSize)`).
   *
   * @param n Invocations needed.
   * @param workgroupSize Invocations per workgroup.
   * @returns `[x, y, 1]`.
   */
  grid(n: number, workgroupSize: number): [number, number, number] {
    return grid1d(n, workgroupSize, this.maxWorkgroupsPerDimension);
  }

  /**
   * Workgroup counts `[x, y, z]` for `x` workgroups along x and `rows` along a split axis
   * (over y, then z, within this device's limit); kernels recover the row as
   * `wid.y + wid.z * nwg.y`.
   *
   * @param x Workgroups along x.
   * @param rows Workgroups needed along the split axis.
   * @returns `[x, y, z]`.
   */
  gridRows(x: number, rows: number): [number, number, number] {
    return gridRows(x, rows, this.maxWorkgroupsPerDimension);
  }

  /**
   * The compute pass all dispatches go to (begun on demand; stays open across dispatches
   * until a copy, a flush or a read ends it). Custom ops with their own pipelines and bind
   * groups may encode into it directly.
   *
   * @returns The open compute pass.
   */
  computePass(): GPUComputePassEncoder {
    return this.#stream.computePass();
  }

  /**
   * The pending command encoder with no pass open (ends the compute pass), for copies.
   *
   * @returns The encoder; its commands run in order with the dispatches before and after.
   */
  commandEncoder(): GPUCommandEncoder {
    return this.#stream.commandEncoder();
  }

  /**
   * Records one dispatch of `options.kernel` into the long-lived compute pass. No submit
   * happens until {@linkcode flush} (or a read, or a full params ring).
   *
   * @param options Kernel, buffers, params, workgroups.
   * @throws {DisposedTensorError} when a tensor binding was disposed.
   */
  dispatch<P extends ParamDecl>(options: DispatchOptions<P>): void {
    this.#stream.dispatch(options);
  }

  /** Submits every pending command (one submit). Does not wait for the GPU. */
  flush(): void {
    this.#stream.flush();
  }

  /**
   * Flushes and waits until the GPU has finished everything submitted (≥ 10 ms in Deno).
   * Throws a recorded GPU error, if any.
   */
  sync(): Promise<void> {
    return this.#stream.sync();
  }

  /**
   * Reads a tensor back to the CPU: flushes, copies, maps (≥ 10 ms: only on request).
   *
   * @param t The tensor.
   * @returns `Float32Array` for `f32`, `Int32Array` for `i32`.
   * @throws {DisposedTensorError} when `t` was disposed; {@linkcode TensorError} after
   *   `destroy()`/`close()`.
   */
  read(t: Tensor): Promise<Float32Array | Int32Array> {
    return this.#stream.read(t);
  }

  /**
   * Reads a one-element tensor as a number.
   *
   * @param t A tensor with one element.
   * @returns Its value.
   */
  async item(t: Tensor): Promise<number> {
    if (t.size !== 1) {
      throw new ShapeError("item", `needs one element, got ${formatShape(t.shape)}`);
    }
    return (await this.read(t))[0];
  }

  // ---------------------------------------------------------------- tensors

  /**
   * A new tensor with uninitialised contents from the pool (ops write their outputs here).
   *
   * @param shape Its shape.
   * @param dtype Element type (default `f32`).
   * @returns The tensor (tracked by the current scope).
   */
  empty(shape: readonly number[], dtype: Dtype = "f32"): Tensor {
    return this.#factory.empty(shape, dtype);
  }

  /**
   * A tensor holding `data` (row-major).
   *
   * @param data Values (length = product of `shape`).
   * @param shape Its shape.
   * @param options dtype, requiresGrad, label.
   * @returns The tensor (tracked by the current scope).
   * @throws {ShapeError} when the data length does not match the shape.
   */
  tensor(
    data: ArrayLike<number> | Float32Array | Int32Array,
    shape: readonly number[],
    options: TensorOptions = {},
  ): Tensor {
    return this.#factory.tensor(data, shape, options);
  }

  /**
   * A tensor filled with `value` (one GPU dispatch, no upload).
   *
   * @param shape Its shape.
   * @param value The fill value.
   * @param options dtype, requiresGrad, label.
   * @returns The tensor (tracked by the current scope).
   */
  full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
    return this.#factory.full(shape, value, options);
  }

  /**
   * A tensor of zeros.
   *
   * @param shape Its shape.
   * @param options dtype, requiresGrad, label.
   * @returns The tensor (tracked by the current scope).
   */
  zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
    return this.#factory.full(shape, 0, options);
  }

  /**
   * Overwrites every element of `t` with `value` (not recorded on the tape).
   *
   * @param t The tensor.
   * @param value The value (converted to the tensor's dtype).
   */
  fill(t: Tensor, value: number): void {
    this.#factory.fill(t, value);
  }

  /**
   * A persistent leaf tensor that requires grad (never disposed by a scope): a model weight.
   *
   * @param data Initial values.
   * @param shape Its shape.
   * @param label Name quoted in errors (e.g. the state-dict key).
   * @returns The parameter.
   */
  parameter(data: ArrayLike<number>, shape: readonly number[], label?: string): Tensor {
    return this.keep(this.#factory.tensor(data, shape, { requiresGrad: true, label }));
  }

  /**
   * A tensor over a GPU buffer the caller owns (not pooled; `release` runs on dispose).
   *
   * @param buffer A buffer with STORAGE usage (and COPY_SRC to be read).
   * @param shape Its shape (the buffer holds at least 4·size bytes).
   * @param dtype Element type.
   * @param release Called when the tensor (and its views) are disposed (default: nothing).
   * @returns The tensor (tracked by the current scope).
   */
  adopt(
    buffer: GPUBuffer,
    shape: readonly number[],
    dtype: Dtype = "f32",
    release: (buffer: GPUBuffer) => void = () => {},
  ): Tensor {
    return this.#factory.adopt(buffer, shape, dtype, release);
  }

  /**
   * A new tensor sharing `t`'s storage with another shape of the same size (no GPU work,
   * not recorded; use the `reshape` op for autograd).
   *
   * @param t The tensor.
   * @param shape New shape with the same number of elements.
   * @returns The view (tracked by the current scope).
   */
  view(t: Tensor, shape: readonly number[]): Tensor {
    return this.#factory.view(t, shape);
  }

  // ---------------------------------------------------------------- memory discipline

  /**
   * Runs `fn` and disposes every tensor created inside it, except the tensors it returns
   * (a tensor, or arrays/objects of tensors, which move to the enclosing scope) and those
   * passed to {@linkcode keep}. Tensors created outside any scope are never disposed
   * automatically. An async `fn` is supported if no other scope opens meanwhile.
   *
   * @param fn The work.
   * @returns What `fn` returned.
   */
  scope<T>(fn: () => T): T {
    return this.#scopes.scope(fn);
  }

  /**
   * Removes tensors from every scope so they survive it (like parameters).
   *
   * @param t The tensor to keep.
   * @returns The same tensor.
   */
  keep(t: Tensor): Tensor {
    return this.#scopes.keep(t);
  }

  /**
   * Runs `fn` with the tape off: ops record nothing and their outputs do not require grad.
   *
   * @param fn The work.
   * @returns What `fn` returned.
   */
  noGrad<T>(fn: () => T): T {
    return this.#tape.noGrad(fn);
  }

  /** Whether ops currently record onto the tape. */
  get gradEnabled(): boolean {
    return this.#tape.enabled;
  }

  // ---------------------------------------------------------------- autograd

  /**
   * Whether an op on `inputs` would be recorded on the tape now: recording is on and some
   * input requires grad. Ops that keep values only their backward needs ask this first.
   *
   * @param inputs The op's inputs.
   * @returns True when {@linkcode record} would record the op.
   */
  willRecord(inputs: readonly Tensor[]): boolean {
    return this.#tape.willRecord(inputs);
  }

  /**
   * Records an op on the tape when grad is enabled and some input requires grad: the outputs
   * then require grad and point to a node whose `backward` maps output gradients to input
   * gradients (using any ops; it runs with recording off). This is how every op, built-in or
   * custom, becomes differentiable.
   *
   * @param op The op's name.
   * @param inputs Its inputs.
   * @param outputs Its outputs.
   * @param backward ∂L/∂outputs → ∂L/∂inputs (`null` for no gradient).
   */
  record(
    op: string,
    inputs: readonly Tensor[],
    outputs: readonly Tensor[],
    backward: (gradOutputs: readonly (Tensor | null)[]) => readonly (Tensor | null)[],
  ): void {
    this.#tape.record({ op, inputs, outputs, backward });
  }

  /**
   * Back-propagates from `root` (see {@linkcode Tensor.backward}).
   *
   * @param root The tensor to differentiate (usually a scalar loss).
   * @param seed ∂L/∂root (default ones; required unless `root` has one element).
   * @throws {GradError} when `root` does not require grad or no seed is given for a
   *   non-scalar.
   */
  backward(root: Tensor, seed?: Tensor): void {
    this.#tape.backward(this, root, seed);
  }

  // ---------------------------------------------------------------- introspection

  /** Pool counters plus dispatch, submit, pipeline and bind-group counts. */
  stats(): EngineStats {
    return { ...this.pool.stats(), ...this.#stream.stats(), pipelines: this.#kernels.size };
  }

  /** Destroys pooled free buffers and forgets cached bind groups. */
  trim(): void {
    this.flush();
    this.#stream.clearBindGroups();
    this.pool.trim();
  }

  /** Whether {@linkcode destroy} or {@linkcode close} was called. */
  get isDestroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * Destroys the device without waiting (idempotent). Commands not yet submitted are dropped
   * (nothing could read their results). If work submitted earlier may still be running (no
   * read or sync waited for it), the device is destroyed once the queue reports it done
   * (under Deno that wait happens inside this call); use {@linkcode close} to await it.
   */
  destroy(): void {
    if (!this.#beginTeardown()) return;
    if (this.#stream.settled) {
      this.gpu.destroy();
      return;
    }
    this.gpu.close().catch(() => {});
  }

  /**
   * Waits until the GPU has finished every submitted command, then destroys the device
   * (idempotent). Commands not yet submitted are dropped. The safe way to end a program
   * that flushed work without awaiting it.
   *
   * @returns When the device is destroyed.
   */
  async close(): Promise<void> {
    if (!this.#beginTeardown()) return;
    await this.gpu.close();
  }

  /** Marks the engine destroyed, drops unsubmitted commands and the exit guard; false if done before. */
  #beginTeardown(): boolean {
    if (this.#destroyed) return false;
    this.#destroyed = true;
    if (this.#exitGuard) {
      for (const type of EXIT_EVENTS) globalThis.removeEventListener?.(type, this.#exitGuard);
      this.#exitGuard = null;
    }
    this.#stream.drop();
    return true;
  }

  #checkAlive(op: string): void {
    if (this.#destroyed) {
      throw new TensorError(op, "the engine was destroyed (destroy() or close() was called)");
    }
  }

  /**
   * At process exit: waits for submitted work (Deno's `onSubmittedWorkDone()` blocks until
   * the queue is idle), so the runtime does not drop a busy device. Work submitted outside
   * the engine on the same device is waited for as well.
   */
  #waitAtExit(): void {
    if (this.#destroyed) return;
    try {
      this.device.queue.onSubmittedWorkDone().catch(() => {
        // A lost device is recorded by the device layer; nothing is left to wait for.
      });
    } catch {
      // The device is already gone: nothing to wait for.
    }
  }
}
