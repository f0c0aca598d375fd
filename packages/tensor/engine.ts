/**
 * The `Engine`: pipeline cache, buffer pool, one long-lived command encoder and compute
 * pass, a params ring buffer, scopes for memory discipline, and the autograd tape.
 *
 * @module
 */

import { BufferPool, type PoolStats } from "./buffer_pool.ts";
import { type GpuContext, isSoftwareAdapter, requestGpu } from "./device.ts";
import { type Dtype, Storage, type TapeNode, Tensor } from "./tensor.ts";
import { formatShape, GradError, ShapeError, TensorError } from "./tensor_errors.ts";
import { runBackward } from "./_autograd.ts";
import { withSubgroupsDirective } from "./_subgroups.ts";

/** Access mode of a storage binding of a kernel. */
export type BindingAccess = "read" | "read_write";

/** One storage buffer a kernel binds (bindings 1, 2, … in order; binding 0 is the params). */
export interface KernelBinding {
  /** The WGSL variable name. */
  name: string;
  /** `"read"` for inputs (default), `"read_write"` for outputs. */
  access?: BindingAccess;
  /** WGSL type of the variable (default `array<f32>`), e.g. `array<vec4<f32>>`, `array<i32>`. */
  type?: string;
}

/** What {@linkcode Engine.kernel} compiles. */
export interface KernelSpec {
  /** Cache key: the same key always means the same WGSL (compiled once). */
  key: string;
  /** Storage buffers, bound at bindings 1…n of group 0 in this order. */
  bindings: readonly KernelBinding[];
  /**
   * WGSL source with an `@compute fn main`. The engine prepends the binding declarations and
   * the params accessors `pu(i) -> u32`, `pi(i) -> i32`, `pf(i) -> f32` (word `i` of this
   * dispatch's params, at most {@linkcode PARAMS_WORDS} words) and
   * `lin(gid, nwg, wg) -> u32` (linear invocation index of a {@linkcode grid1d} dispatch).
   */
  code: string;
}

/** A compiled kernel (pipeline plus its bind group layout), cached by key. */
export interface Kernel {
  /** The cache key. */
  readonly key: string;
  /** The compute pipeline (entry point `main`). */
  readonly pipeline: GPUComputePipeline;
  /** Layout of group 0: params at binding 0, then the storage bindings. */
  readonly layout: GPUBindGroupLayout;
  /** Access of bindings 1…n (also the layout's key). */
  readonly access: readonly BindingAccess[];
}

/** A buffer argument of a dispatch: a tensor, a whole GPUBuffer, or a range of one. */
export type Bindable = Tensor | GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** Arguments of {@linkcode Engine.dispatch}. */
export interface DispatchOptions {
  /** The kernel (from {@linkcode Engine.kernel}). */
  kernel: Kernel;
  /** One buffer per kernel binding, in order. */
  bindings: readonly Bindable[];
  /** Params words (u32/i32 numbers, or a typed array whose bytes are copied); ≤ 64 words. */
  params?: ArrayBufferView | readonly number[];
  /** Workgroup counts `[x, y, z]` (missing ones are 1). */
  workgroups: readonly number[];
  /** Op name quoted in errors (default: the kernel key). */
  op?: string;
}

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
export interface EngineStats extends PoolStats {
  /** Dispatches recorded so far. */
  dispatches: number;
  /** Submits so far. */
  submits: number;
  /** Compiled pipelines. */
  pipelines: number;
  /** Bind groups served from the cache. */
  bindGroupHits: number;
  /** Bind groups created. */
  bindGroupMisses: number;
}

/** Options of tensor factories. */
export interface TensorOptions {
  /** Element type (default `f32`). */
  dtype?: Dtype;
  /** Whether gradients flow to it (default false). */
  requiresGrad?: boolean;
  /** Name quoted in errors. */
  label?: string;
}

/** Words of params one dispatch may carry (one 256-byte slot). */
export const PARAMS_WORDS = 64;
const SLOT_BYTES = 256;

/**
 * Workgroup counts covering `n` invocations of a 1-D kernel of `workgroupSize`, split over x
 * and y when more than 65535 workgroups are needed. Kernels recover the linear index with
 * `lin(gid, nwg, workgroupSize)`.
 *
 * @param n Invocations needed.
 * @param workgroupSize Invocations per workgroup.
 * @returns `[x, y, 1]`.
 */
export function grid1d(n: number, workgroupSize: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / workgroupSize));
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x), 1];
}

function prelude(bindings: readonly KernelBinding[]): string {
  const lines = [
    "@group(0) @binding(0) var<storage, read> _params: array<u32>;",
    "fn pu(i: u32) -> u32 { return _params[i]; }",
    "fn pi(i: u32) -> i32 { return bitcast<i32>(_params[i]); }",
    "fn pf(i: u32) -> f32 { return bitcast<f32>(_params[i]); }",
    "fn lin(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 { return gid.x + gid.y * nwg.x * wg; }",
  ];
  bindings.forEach((b, i) => {
    const access = b.access === "read_write" ? "read_write" : "read";
    lines.push(
      `@group(0) @binding(${i + 1}) var<storage, ${access}> ${b.name}: ${b.type ?? "array<f32>"};`,
    );
  });
  return lines.join("\n") + "\n";
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
  #kernels = new Map<string, Kernel>();
  #layouts = new Map<string, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();
  #bindGroups = new Map<string, GPUBindGroup>();
  #bufferIds = new WeakMap<GPUBuffer, number>();
  #nextBufferId = 1;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #paramsGpu: GPUBuffer;
  #paramsCpu: Uint32Array;
  #slots: number;
  #slot = 0;
  #scopes: Set<Tensor>[] = [];
  #noGrad = 0;
  #dispatches = 0;
  #submits = 0;
  #bgHits = 0;
  #bgMisses = 0;
  /** Submits known to have finished on the GPU (a sync or a read waited for them). */
  #settledSubmits = 0;
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
    this.#slots = options.paramsSlots ?? 4096;
    this.#paramsCpu = new Uint32Array((this.#slots * SLOT_BYTES) / 4);
    this.#paramsGpu = this.device.createBuffer({
      size: this.#slots * SLOT_BYTES,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      label: "engine-params-ring",
    });
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
   * Compiles a kernel once per key (later calls return the cached one without reading
   * `spec.code` again — pass a function to avoid building the string).
   *
   * @param spec The kernel, or a function returning it (called on a cache miss only).
   * @param key The cache key when `spec` is a function.
   * @returns The compiled kernel.
   */
  kernel(spec: KernelSpec | (() => KernelSpec), key?: string): Kernel {
    const k = key ?? (spec as KernelSpec).key;
    const hit = this.#kernels.get(k);
    if (hit) return hit;
    const s = typeof spec === "function" ? spec() : spec;
    const access = s.bindings.map((b) => b.access ?? "read");
    const { bgl, pl } = this.#layout(access);
    const code = withSubgroupsDirective(prelude(s.bindings) + s.code, this.gpu.subgroupsDirective);
    const module = this.device.createShaderModule({ code, label: k });
    const pipeline = this.device.createComputePipeline({
      layout: pl,
      compute: { module, entryPoint: "main" },
      label: k,
    });
    const kernel: Kernel = { key: k, pipeline, layout: bgl, access };
    this.#kernels.set(k, kernel);
    return kernel;
  }

  #layout(access: readonly BindingAccess[]): { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout } {
    const key = access.map((a) => (a === "read" ? "r" : "w")).join("");
    let hit = this.#layouts.get(key);
    if (!hit) {
      const entries: GPUBindGroupLayoutEntry[] = [{
        binding: 0,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: "read-only-storage", hasDynamicOffset: true, minBindingSize: SLOT_BYTES },
      }];
      access.forEach((a, i) =>
        entries.push({
          binding: i + 1,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: a === "read" ? "read-only-storage" : "storage" },
        })
      );
      const bgl = this.device.createBindGroupLayout({ entries, label: `layout-${key}` });
      hit = { bgl, pl: this.device.createPipelineLayout({ bindGroupLayouts: [bgl] }) };
      this.#layouts.set(key, hit);
    }
    return hit;
  }

  #bufferId(buffer: GPUBuffer): number {
    let id = this.#bufferIds.get(buffer);
    if (id === undefined) this.#bufferIds.set(buffer, id = this.#nextBufferId++);
    return id;
  }

  /**
   * The compute pass all dispatches go to (begun on demand; stays open across dispatches
   * until a copy, a flush or a read ends it). Custom ops with their own pipelines and bind
   * groups may encode into it directly.
   *
   * @returns The open compute pass.
   */
  computePass(): GPUComputePassEncoder {
    if (!this.#pass) {
      this.#checkAlive("dispatch");
      this.#encoder ??= this.device.createCommandEncoder();
      this.#pass = this.#encoder.beginComputePass();
    }
    return this.#pass;
  }

  /**
   * The pending command encoder with no pass open (ends the compute pass), for copies.
   *
   * @returns The encoder; its commands run in order with the dispatches before and after.
   */
  commandEncoder(): GPUCommandEncoder {
    this.#checkAlive("commandEncoder");
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    this.#encoder ??= this.device.createCommandEncoder();
    return this.#encoder;
  }

  /**
   * Records one dispatch of `options.kernel` into the long-lived compute pass. No submit
   * happens until {@linkcode flush} (or a read, or a full params ring).
   *
   * @param options Kernel, buffers, params, workgroups.
   * @throws {DisposedTensorError} when a tensor binding was disposed.
   */
  dispatch(options: DispatchOptions): void {
    const { kernel, bindings } = options;
    const op = options.op ?? kernel.key;
    if (bindings.length !== kernel.access.length) {
      throw new TensorError(
        op,
        `kernel "${kernel.key}" has ${kernel.access.length} bindings, got ${bindings.length}`,
      );
    }
    let offset = 0;
    const p = options.params;
    if (p !== undefined && (ArrayBuffer.isView(p) ? p.byteLength > 0 : p.length > 0)) {
      if (this.#slot >= this.#slots) this.flush();
      const base = this.#slot * (SLOT_BYTES / 4);
      if (ArrayBuffer.isView(p)) {
        if (p.byteLength > SLOT_BYTES) {
          throw new TensorError(op, `params of ${p.byteLength} bytes exceed ${SLOT_BYTES}`);
        }
        new Uint8Array(this.#paramsCpu.buffer, base * 4, p.byteLength).set(
          new Uint8Array(p.buffer, p.byteOffset, p.byteLength),
        );
      } else {
        if (p.length > PARAMS_WORDS) {
          throw new TensorError(op, `${p.length} params words exceed ${PARAMS_WORDS}`);
        }
        for (let i = 0; i < p.length; i++) this.#paramsCpu[base + i] = p[i] >>> 0;
      }
      offset = this.#slot * SLOT_BYTES;
      this.#slot++;
    }
    // Bind group: cached by layout and buffer identities (the params ring is bound with a
    // dynamic offset, so it does not enter the key).
    const entries: GPUBindGroupEntry[] = [{
      binding: 0,
      resource: { buffer: this.#paramsGpu, offset: 0, size: SLOT_BYTES },
    }];
    let key = kernel.access.join("") + ":";
    for (let i = 0; i < bindings.length; i++) {
      const b = bindings[i];
      let buffer: GPUBuffer;
      let boff = 0;
      let bsize: number | undefined;
      if (b instanceof Tensor) buffer = b.storageFor(op).buffer;
      else if (b instanceof GPUBuffer) buffer = b;
      else {
        buffer = b.buffer;
        boff = b.offset ?? 0;
        bsize = b.size;
      }
      key += `${this.#bufferId(buffer)}@${boff}+${bsize ?? "*"},`;
      entries.push({
        binding: i + 1,
        resource: bsize === undefined ? { buffer, offset: boff } : {
          buffer,
          offset: boff,
          size: bsize,
        },
      });
    }
    let group = this.#bindGroups.get(key);
    if (group) this.#bgHits++;
    else {
      this.#bgMisses++;
      if (this.#bindGroups.size > 8192) this.#bindGroups.clear();
      group = this.device.createBindGroup({ layout: kernel.layout, entries });
      this.#bindGroups.set(key, group);
    }
    const pass = this.computePass();
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, group, [offset]);
    const [x, y = 1, z = 1] = options.workgroups;
    pass.dispatchWorkgroups(x, y, z);
    this.#dispatches++;
  }

  /** Submits every pending command (one submit). Does not wait for the GPU. */
  flush(): void {
    if (!this.#encoder) return;
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    if (this.#slot > 0) {
      this.device.queue.writeBuffer(this.#paramsGpu, 0, this.#paramsCpu, 0, this.#slot * 64);
      this.#slot = 0;
    }
    this.device.queue.submit([this.#encoder.finish()]);
    this.#encoder = null;
    this.#submits++;
    this.pool.advanceEpoch();
  }

  /**
   * Flushes and waits until the GPU has finished everything submitted (≥ 10 ms in Deno).
   * Throws a recorded GPU error, if any.
   */
  async sync(): Promise<void> {
    this.#checkAlive("sync");
    this.flush();
    const submitted = this.#submits;
    await this.device.queue.onSubmittedWorkDone();
    this.#settled(submitted);
    this.gpu.throwIfFailed();
  }

  /** Records that every submit up to `submitted` has finished on the GPU. */
  #settled(submitted: number): void {
    if (submitted > this.#settledSubmits) this.#settledSubmits = submitted;
  }

  /**
   * Reads a tensor back to the CPU: flushes, copies, maps (≥ 10 ms: only on request).
   *
   * @param t The tensor.
   * @returns `Float32Array` for `f32`, `Int32Array` for `i32`.
   * @throws {DisposedTensorError} when `t` was disposed; {@linkcode TensorError} after
   *   `destroy()`/`close()`.
   */
  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    this.#checkAlive("read");
    const storage = t.storageFor("read");
    const bytes = t.byteLength;
    if (bytes === 0) return t.dtype === "i32" ? new Int32Array(0) : new Float32Array(0);
    const staging = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.commandEncoder().copyBufferToBuffer(storage.buffer, 0, staging, 0, bytes);
    this.flush();
    const submitted = this.#submits;
    await staging.mapAsync(GPUMapMode.READ);
    // The copy was the last command of the last submit: everything before it is done too.
    this.#settled(submitted);
    const copy = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    this.gpu.throwIfFailed();
    return t.dtype === "i32" ? new Int32Array(copy) : new Float32Array(copy);
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

  #track(t: Tensor): Tensor {
    const top = this.#scopes[this.#scopes.length - 1];
    if (top) {
      top.add(t);
      t.scope = top;
    }
    return t;
  }

  /**
   * A new tensor with uninitialised contents from the pool (ops write their outputs here).
   *
   * @param shape Its shape.
   * @param dtype Element type (default `f32`).
   * @returns The tensor (tracked by the current scope).
   */
  empty(shape: readonly number[], dtype: Dtype = "f32"): Tensor {
    checkShape("empty", shape);
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    const buffer = this.pool.acquire(bytes);
    const storage = new Storage(buffer, bytes, (b) => this.pool.release(b));
    return this.#track(new Tensor(this, storage, shape, dtype));
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
    checkShape("tensor", shape);
    const dtype = options.dtype ?? "f32";
    const size = shape.reduce((a, b) => a * b, 1);
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
    const buffer = this.pool.acquire(bytes, true);
    if (bytes > 0) this.device.queue.writeBuffer(buffer, 0, typed.buffer, typed.byteOffset, bytes);
    const storage = new Storage(buffer, bytes, (b) => this.pool.release(b));
    const t = new Tensor(this, storage, shape, dtype, options.requiresGrad ?? false);
    t.label = options.label;
    return this.#track(t);
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
    const dtype = options.dtype ?? "f32";
    const t = this.empty(shape, dtype);
    t.requiresGrad = options.requiresGrad ?? false;
    t.label = options.label;
    this.fill(t, value);
    return t;
  }

  /**
   * A tensor of zeros.
   *
   * @param shape Its shape.
   * @param options dtype, requiresGrad, label.
   * @returns The tensor (tracked by the current scope).
   */
  zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
    return this.full(shape, 0, options);
  }

  /**
   * Overwrites every element of `t` with `value` (not recorded on the tape).
   *
   * @param t The tensor.
   * @param value The value (converted to the tensor's dtype).
   */
  fill(t: Tensor, value: number): void {
    if (t.size === 0) return;
    const kernel = this.kernel(() => ({
      key: "fill",
      bindings: [{ name: "y", access: "read_write", type: "array<u32>" }],
      code: `@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, 256u);
  if (i < pu(0u)) { y[i] = pu(1u); }
}`,
    }), "fill");
    const bits = new Uint32Array(2);
    bits[0] = t.size;
    if (t.dtype === "i32") new Int32Array(bits.buffer)[1] = value;
    else new Float32Array(bits.buffer)[1] = value;
    this.dispatch({
      kernel,
      bindings: [t],
      params: bits,
      workgroups: grid1d(t.size, 256),
      op: "fill",
    });
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
    const t = this.tensor(data, shape, { requiresGrad: true, label });
    return this.keep(t);
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
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    if (buffer.size < bytes) {
      throw new ShapeError("adopt", `buffer of ${buffer.size} bytes < shape ${formatShape(shape)}`);
    }
    return this.#track(new Tensor(this, new Storage(buffer, bytes, release), shape, dtype));
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
    const storage = t.storageFor("view");
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== t.size) {
      throw new ShapeError(
        "view",
        `cannot view ${formatShape(t.shape)} (${t.size} elements) as ${formatShape(shape)}`,
      );
    }
    storage.refs++;
    return this.#track(new Tensor(this, storage, shape, t.dtype));
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
    const s = new Set<Tensor>();
    this.#scopes.push(s);
    let result: T;
    try {
      result = fn();
    } catch (error) {
      this.#endScope(s, undefined);
      throw error;
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => (this.#endScope(s, value), value),
        (error) => {
          this.#endScope(s, undefined);
          throw error;
        },
      ) as T;
    }
    this.#endScope(s, result);
    return result;
  }

  #endScope(s: Set<Tensor>, result: unknown): void {
    const i = this.#scopes.lastIndexOf(s);
    if (i >= 0) this.#scopes.splice(i, 1);
    const parent = this.#scopes[this.#scopes.length - 1];
    const kept = new Set<Tensor>();
    collectTensors(result, kept, 0);
    for (const t of [...s]) {
      if (kept.has(t)) {
        t.scope = parent ?? null;
        parent?.add(t);
      } else t.dispose();
    }
  }

  /**
   * Removes tensors from every scope so they survive it (like parameters).
   *
   * @param t The tensor to keep.
   * @returns The same tensor.
   */
  keep(t: Tensor): Tensor {
    t.scope?.delete(t);
    t.scope = null;
    return t;
  }

  /**
   * Runs `fn` with the tape off: ops record nothing and their outputs do not require grad.
   *
   * @param fn The work.
   * @returns What `fn` returned.
   */
  noGrad<T>(fn: () => T): T {
    this.#noGrad++;
    try {
      return fn();
    } finally {
      this.#noGrad--;
    }
  }

  /** Whether ops currently record onto the tape. */
  get gradEnabled(): boolean {
    return this.#noGrad === 0;
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
    return this.#noGrad === 0 && inputs.some((t) => t.requiresGrad);
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
    if (!this.willRecord(inputs)) return;
    const node: TapeNode = { op, inputs, outputs, backward };
    for (const o of outputs) {
      if (o.dtype !== "f32") continue;
      o.requiresGrad = true;
      o.node = node;
    }
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
    root.storageFor("backward");
    if (!root.requiresGrad) {
      throw new GradError(
        "backward",
        `tensor ${root.label ? `"${root.label}" ` : ""}of shape ${
          formatShape(root.shape)
        } does not require grad (no input of the ops that produced it requires grad, or it ` +
          `was computed under noGrad)`,
      );
    }
    if (seed) {
      seed.storageFor("backward");
      if (seed.shape.join() !== root.shape.join()) {
        throw new ShapeError(
          "backward",
          `seed shape ${formatShape(seed.shape)} differs from ${formatShape(root.shape)}`,
        );
      }
    } else if (root.size !== 1) {
      throw new GradError(
        "backward",
        `tensor of shape ${formatShape(root.shape)} is not a scalar: pass a seed gradient`,
      );
    }
    this.noGrad(() => runBackward(this, root, seed));
  }

  // ---------------------------------------------------------------- introspection

  /** Pool counters plus dispatch, submit, pipeline and bind-group counts. */
  stats(): EngineStats {
    return {
      ...this.pool.stats(),
      dispatches: this.#dispatches,
      submits: this.#submits,
      pipelines: this.#kernels.size,
      bindGroupHits: this.#bgHits,
      bindGroupMisses: this.#bgMisses,
    };
  }

  /** Destroys pooled free buffers and forgets cached bind groups. */
  trim(): void {
    this.flush();
    this.#bindGroups.clear();
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
    if (this.#settledSubmits >= this.#submits) {
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
    this.#pass?.end();
    this.#pass = null;
    this.#encoder = null;
    this.#slot = 0;
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

function checkShape(op: string, shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(op, `invalid shape ${formatShape(shape)}`);
    }
  }
}

function collectTensors(value: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 4 || value === null || typeof value !== "object") return;
  if (value instanceof Tensor) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, depth + 1);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out, depth + 1);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, out, depth + 1);
  }
}
