/**
 * The command stream: one pending command encoder with one long-lived compute pass, the
 * params ring (one 256-byte slot per dispatch, bound at a dynamic offset), a bind group
 * cache keyed by buffer identity, and the flush/sync/read points where work is submitted or
 * waited for.
 *
 * @module
 */

import type { BufferPool } from "./buffer_pool.ts";
import type { GpuContext } from "./device.ts";
import { type Kernel, SLOT_BYTES } from "./kernel_cache.ts";
import { type ParamDecl, PARAMS_WORDS, type ParamValues } from "@vmunet/wgsl";
import { Tensor } from "./tensor.ts";
import { TensorError } from "./tensor_errors.ts";

/** A buffer argument of a dispatch: a tensor, a whole GPUBuffer, or a range of one. */
export type Bindable = Tensor | GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** Arguments of `Engine.dispatch`. */
export interface DispatchOptions<P extends ParamDecl = ParamDecl> {
  /** The kernel (from `Engine.kernel`). */
  kernel: Kernel<P>;
  /** One buffer per kernel binding, in order. */
  bindings: readonly Bindable[];
  /**
   * The params: by name for a kernel that declares them (`{ n: 4, scale: 0.5 }`), else
   * positional words (u32/i32 numbers, or a typed array whose bytes are copied); ≤ 64 words.
   */
  params?: ArrayBufferView | readonly number[] | ParamValues<P>;
  /** Workgroup counts `[x, y, z]` (missing ones are 1). */
  workgroups: readonly number[];
  /** Op name quoted in errors (default: the kernel key). */
  op?: string;
}

/** Counters of a {@linkcode CommandStream}. */
export interface StreamStats {
  /** Dispatches recorded so far. */
  dispatches: number;
  /** Submits so far. */
  submits: number;
  /** Bind groups served from the cache. */
  bindGroupHits: number;
  /** Bind groups created. */
  bindGroupMisses: number;
}

/** Pending commands of one device: encoder, compute pass, params ring, bind groups. */
export class CommandStream {
  readonly #gpu: GpuContext;
  readonly #device: GPUDevice;
  readonly #pool: BufferPool;
  readonly #checkAlive: (op: string) => void;
  #bindGroups = new Map<string, GPUBindGroup>();
  #bufferIds = new WeakMap<GPUBuffer, number>();
  #nextBufferId = 1;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #paramsGpu: GPUBuffer;
  #paramsCpu: Uint32Array;
  #slots: number;
  #slot = 0;
  #dispatches = 0;
  #submits = 0;
  #bgHits = 0;
  #bgMisses = 0;
  /** Submits known to have finished on the GPU (a sync or a read waited for them). */
  #settledSubmits = 0;

  /**
   * A stream on `gpu`'s device.
   *
   * @param gpu The device context (errors surface through `throwIfFailed()`).
   * @param pool The pool whose epoch advances at each submit.
   * @param slots Params slots per submit (a full ring flushes).
   * @param checkAlive Throws when the owner was torn down (named after the op).
   */
  constructor(
    gpu: GpuContext,
    pool: BufferPool,
    slots: number,
    checkAlive: (op: string) => void,
  ) {
    this.#gpu = gpu;
    this.#device = gpu.device;
    this.#pool = pool;
    this.#checkAlive = checkAlive;
    this.#slots = slots;
    this.#paramsCpu = new Uint32Array((slots * SLOT_BYTES) / 4);
    this.#paramsGpu = this.#device.createBuffer({
      size: slots * SLOT_BYTES,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      label: "engine-params-ring",
    });
  }

  /** Dispatch, submit and bind-group counters. */
  stats(): StreamStats {
    return {
      dispatches: this.#dispatches,
      submits: this.#submits,
      bindGroupHits: this.#bgHits,
      bindGroupMisses: this.#bgMisses,
    };
  }

  /** Whether every submit so far is known to have finished on the GPU. */
  get settled(): boolean {
    return this.#settledSubmits >= this.#submits;
  }

  #bufferId(buffer: GPUBuffer): number {
    let id = this.#bufferIds.get(buffer);
    if (id === undefined) this.#bufferIds.set(buffer, id = this.#nextBufferId++);
    return id;
  }

  /** The open compute pass (begun on demand). */
  computePass(): GPUComputePassEncoder {
    if (!this.#pass) {
      this.#checkAlive("dispatch");
      this.#encoder ??= this.#device.createCommandEncoder();
      this.#pass = this.#encoder.beginComputePass();
    }
    return this.#pass;
  }

  /** The pending encoder with no pass open (ends the compute pass), for copies. */
  commandEncoder(): GPUCommandEncoder {
    this.#checkAlive("commandEncoder");
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    this.#encoder ??= this.#device.createCommandEncoder();
    return this.#encoder;
  }

  /** Copies `p` into the next params slot; returns its byte offset in the ring. */
  #writeParams(op: string, p: ArrayBufferView | readonly number[]): number {
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
    return this.#slot++ * SLOT_BYTES;
  }

  /** The params of a dispatch as words: named values packed by the kernel's declaration. */
  #words(
    kernel: Kernel<ParamDecl>,
    params: DispatchOptions["params"],
    op: string,
  ): ArrayBufferView | readonly number[] | undefined {
    const positional = params === undefined || ArrayBuffer.isView(params) ||
      Array.isArray(params);
    if (kernel.params) {
      if (positional) {
        throw new TensorError(
          op,
          `kernel "${kernel.key}" declares named params: pass them as { name: value }`,
        );
      }
      return kernel.params.pack(params as ParamValues<ParamDecl>, op);
    }
    if (!positional) {
      throw new TensorError(op, `kernel "${kernel.key}" declares no named params`);
    }
    return params as ArrayBufferView | readonly number[] | undefined;
  }

  /** The bind group of `kernel` over `bindings` (cached by layout and buffer identities). */
  #bindGroup(kernel: Kernel, bindings: readonly Bindable[], op: string): GPUBindGroup {
    // The params ring is bound with a dynamic offset, so it does not enter the key.
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
      group = this.#device.createBindGroup({ layout: kernel.layout, entries });
      this.#bindGroups.set(key, group);
    }
    return group;
  }

  /** Records one dispatch into the compute pass (see `Engine.dispatch`). */
  dispatch<P extends ParamDecl>(options: DispatchOptions<P>): void {
    const { kernel, bindings } = options;
    const op = options.op ?? kernel.key;
    if (bindings.length !== kernel.access.length) {
      throw new TensorError(
        op,
        `kernel "${kernel.key}" has ${kernel.access.length} bindings, got ${bindings.length}`,
      );
    }
    const p = this.#words(kernel, options.params, op);
    const offset = p !== undefined && (ArrayBuffer.isView(p) ? p.byteLength > 0 : p.length > 0)
      ? this.#writeParams(op, p)
      : 0;
    const group = this.#bindGroup(kernel, bindings, op);
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
      this.#device.queue.writeBuffer(
        this.#paramsGpu,
        0,
        this.#paramsCpu,
        0,
        this.#slot * (SLOT_BYTES / 4),
      );
      this.#slot = 0;
    }
    this.#device.queue.submit([this.#encoder.finish()]);
    this.#encoder = null;
    this.#submits++;
    this.#pool.advanceEpoch();
  }

  /** Flushes and waits for the GPU; throws a recorded GPU error, if any. */
  async sync(): Promise<void> {
    this.#checkAlive("sync");
    this.flush();
    const submitted = this.#submits;
    await this.#device.queue.onSubmittedWorkDone();
    this.#settled(submitted);
    this.#gpu.throwIfFailed();
  }

  /** Records that every submit up to `submitted` has finished on the GPU. */
  #settled(submitted: number): void {
    if (submitted > this.#settledSubmits) this.#settledSubmits = submitted;
  }

  /** Reads a tensor back: flushes, copies, maps (see `Engine.read`). */
  async read(t: Tensor): Promise<Float32Array | Int32Array> {
    this.#checkAlive("read");
    const storage = t.storageFor("read");
    const bytes = t.byteLength;
    if (bytes === 0) return t.dtype === "i32" ? new Int32Array(0) : new Float32Array(0);
    const staging = this.#device.createBuffer({
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
    this.#gpu.throwIfFailed();
    return t.dtype === "i32" ? new Int32Array(copy) : new Float32Array(copy);
  }

  /** Forgets cached bind groups. */
  clearBindGroups(): void {
    this.#bindGroups.clear();
  }

  /** Drops the commands not yet submitted (teardown). */
  drop(): void {
    this.#pass?.end();
    this.#pass = null;
    this.#encoder = null;
    this.#slot = 0;
  }
}
