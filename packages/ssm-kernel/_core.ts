/**
 * Host side shared by {@linkcode SelectiveScan} and {@linkcode CrossScan2d}: compiles each
 * pipeline of one shape configuration once, on first use, and encodes them over caller-owned
 * buffers.
 *
 * @module
 */

import { ScanShapeError } from "./errors.ts";
import { knownSubgroupsDirective } from "./subgroups.ts";
import {
  backwardBcWgsl,
  backwardRowsWgsl,
  type DtSlot,
  forwardScanWgsl,
  forwardVec4Fits,
  forwardVec4Wgsl,
  forwardWgsl,
  type KernelDims,
  kernelDims,
  type KernelLayout,
  type KernelTuning,
  packBcWgsl,
  reduceParamsWgsl,
  transposeWgsl,
} from "./_wgsl.ts";

/** Element counts each binding must hold, by role. */
export interface CoreSizes {
  u: number;
  delta: number;
  A: number;
  B: number;
  C: number;
  D: number;
  deltaBias: number;
  out: number;
}

/** Buffers of the forward, caller-owned. */
export interface CoreForwardBuffers {
  u: GPUBuffer;
  delta: GPUBuffer;
  A: GPUBuffer;
  B: GPUBuffer;
  C: GPUBuffer;
  D: GPUBuffer;
  deltaBias: GPUBuffer;
  out: GPUBuffer;
  /** Omitted when no backward follows: the forward then stores no checkpoints. */
  state?: GPUBuffer;
}

/** Buffers of the backward, caller-owned. */
export interface CoreBackwardBuffers {
  u: GPUBuffer;
  delta: GPUBuffer;
  A: GPUBuffer;
  B: GPUBuffer;
  C: GPUBuffer;
  D: GPUBuffer;
  deltaBias: GPUBuffer;
  state: GPUBuffer;
  dout: GPUBuffer;
  du: GPUBuffer;
  ddelta: GPUBuffer;
  dA: GPUBuffer;
  dB: GPUBuffer;
  dC: GPUBuffer;
  dD: GPUBuffer;
  dDeltaBias: GPUBuffer;
}

const BWD_BINDINGS = 13;

/** A 2-D grid of `wg`-wide workgroups covering `count` invocations (x at most 65535). */
function flatDispatch(count: number, wg = 256): [number, number] {
  const groups = Math.ceil(count / wg);
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x)];
}

/** Channel-major copies the cross-scan backward runs on. */
type ChannelMajorScratch = Record<"u" | "delta" | "dout" | "du" | "ddelta", GPUBuffer>;

/** The compiled kernels of one layout and tuning. */
export class ScanCore {
  readonly device: GPUDevice;
  readonly layout: KernelLayout;
  readonly tuning: KernelTuning;
  readonly dims: KernelDims;
  readonly sizes: CoreSizes;
  readonly stateBytes: number;
  readonly label: string;
  /**
   * Cross layout: the backward transposes u, Δ and dy to channel-major copies, runs on them
   * (each row contiguous along positions: sequential memory for the row-major directions and
   * short strides within one row for the column-major ones) and transposes du, dΔ back.
   * Measured on lavapipe to beat walking the channels-last maps, whose column-major
   * directions jump a whole image row (W·Di floats) per step.
   */
  readonly channelMajorBackward: boolean;
  /**
   * Compiled pipelines by name, each on first use: an inference-only scan never compiles
   * the backward kernels (nor a training one the inference variants).
   */
  #pipelines: Map<string, GPUComputePipeline> = new Map();
  /** Bound in place of `state` by the forward without checkpoints. */
  #dummy: GPUBuffer | undefined;
  #packed: GPUBuffer | undefined;
  #rk: GPUBuffer | undefined;
  #pp: GPUBuffer | undefined;
  /** Cross layout, channel-major backward: transposed copies of u, Δ, dy, du, dΔ. */
  #cm: ChannelMajorScratch | undefined;
  /** Workgroup size of the dB/dC kernel. */
  #bcWorkgroup = 64;
  #layouts: Map<GPUComputePipeline, GPUBindGroupLayout> = new Map();
  /** `enable subgroups;` where the device's WGSL wants it and the kernels use subgroups. */
  #directive = "";

  constructor(
    device: GPUDevice,
    layout: KernelLayout,
    tuning: KernelTuning,
    sizes: CoreSizes,
    label: string,
    channelMajorBackward = false,
  ) {
    this.device = device;
    this.channelMajorBackward = channelMajorBackward && layout.kind === "cross";
    this.layout = layout;
    this.tuning = tuning;
    this.sizes = sizes;
    this.label = label;
    const dims = kernelDims(layout, tuning);
    this.dims = dims;
    const lim = device.limits;
    if (lim.maxStorageBuffersPerShaderStage < BWD_BINDINGS) {
      throw new ScanShapeError(
        `${label}: device limit maxStorageBuffersPerShaderStage is ${lim.maxStorageBuffersPerShaderStage}, ` +
          `the backward needs ${BWD_BINDINGS}; request the device with ` +
          `requiredLimits: { maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage }`,
      );
    }
    if (tuning.subgroupWidth > 0 && !device.features.has("subgroups")) {
      throw new ScanShapeError(
        `${label}: option subgroups is true but the device was created without the "subgroups" feature`,
      );
    }
    if (
      tuning.subgroupWidth > 0 &&
      (tuning.subgroupsDirective ?? knownSubgroupsDirective(device) ?? false)
    ) {
      this.#directive = "enable subgroups;\n";
    }
    if (tuning.workgroupSize > lim.maxComputeInvocationsPerWorkgroup) {
      throw new ScanShapeError(
        `${label}: workgroupSize ${tuning.workgroupSize} exceeds maxComputeInvocationsPerWorkgroup ${lim.maxComputeInvocationsPerWorkgroup}`,
      );
    }
    this.stateBytes = layout.batch * dims.totalChannels * dims.chunks * dims.nv * 16;
    const maxBinding = lim.maxStorageBufferBindingSize;
    const checks: [string, number][] = [
      ["state", this.stateBytes],
      ...Object.entries(sizes).map(([k, v]) => [k, v * 4] as [string, number]),
    ];
    for (const [name, bytes] of checks) {
      if (bytes > maxBinding) {
        throw new ScanShapeError(
          `${label}: ${name} needs ${bytes} bytes, above the device's maxStorageBufferBindingSize ` +
            `${maxBinding}; split the batch`,
        );
      }
    }
    // dB/dC: one invocation per (batch, group, chunk); narrower workgroups when there are
    // few chunks (e.g. 64 at 16×16), so that both cores of a CPU adapter get work.
    const bcCount = layout.batch * layout.groups * dims.chunks;
    while (this.#bcWorkgroup > 8 && Math.ceil(bcCount / this.#bcWorkgroup) < 8) {
      this.#bcWorkgroup /= 2;
    }
  }

  /**
   * The pipeline `name`, compiled on first use from `build()`'s WGSL; `kinds` gives each
   * binding's access ("r" read-only, "w" read-write storage) as an explicit layout, so
   * bindings a variant does not use are still accepted.
   */
  #pipeline(
    name: string,
    build: () => { code: string; entryPoint: string; kinds: string },
  ): GPUComputePipeline {
    const hit = this.#pipelines.get(name);
    if (hit) return hit;
    const { code, entryPoint, kinds } = build();
    const what = `${this.label} ${name}`;
    const bgl = this.device.createBindGroupLayout({
      label: what,
      entries: [...kinds].map((k, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: k === "r" ? "read-only-storage" : "storage" },
      })),
    });
    const pipeline = this.device.createComputePipeline({
      label: what,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [bgl] }),
      compute: {
        module: this.device.createShaderModule({ label: what, code: this.#directive + code }),
        entryPoint,
      },
    });
    this.#layouts.set(pipeline, bgl);
    this.#pipelines.set(name, pipeline);
    return pipeline;
  }

  /** The layout the backward kernels walk (channel-major copies on CPU adapters). */
  #backwardLayout(): KernelLayout {
    return this.channelMajorBackward ? { ...this.layout, channelMajor: true } : this.layout;
  }

  /** Encodes the B/C packing pass when the layout needs one; returns the buffers to bind. */
  #packBC(pass: GPUComputePassEncoder, B: GPUBuffer, C: GPUBuffer): [GPUBuffer, GPUBuffer] {
    if (this.layout.kind !== "generic") return [B, C];
    const l = this.layout;
    const pack = this.#pipeline("pack B/C", () => ({
      code: packBcWgsl(l, this.tuning, this.dims),
      entryPoint: "pack",
      kinds: "rrw",
    }));
    const count = l.batch * l.groups * l.length * this.dims.packedStride;
    this.#packed ??= this.device.createBuffer({
      label: `${this.label} packed B/C`,
      size: count * 4,
      usage: GPUBufferUsage.STORAGE,
    });
    pass.setPipeline(pack);
    pass.setBindGroup(0, this.#group(pack, [B, C, this.#packed]));
    pass.dispatchWorkgroups(...flatDispatch(count));
    return [this.#packed, this.#packed];
  }

  #check(name: string, buffer: GPUBuffer, elements: number): void {
    if (!buffer || typeof buffer.size !== "number") {
      throw new ScanShapeError(`${this.label}: buffer '${name}' is missing`);
    }
    if (buffer.size < elements * 4) {
      throw new ScanShapeError(
        `${this.label}: buffer '${name}' has ${buffer.size} bytes, needs at least ${
          elements * 4
        } ` +
          `(${elements} f32)`,
      );
    }
  }

  /**
   * Checks the input buffers (and `state` when given); `delta` unless the kernel projects Δ
   * itself (`withDelta` false).
   */
  #checkInputs(
    b: Omit<CoreForwardBuffers, "delta" | "out"> & { delta?: GPUBuffer },
    withDelta = true,
  ): void {
    const s = this.sizes;
    this.#check("u", b.u, s.u);
    if (withDelta) this.#check("delta", b.delta!, s.delta);
    this.#check("A", b.A, s.A);
    this.#check("B", b.B, s.B);
    this.#check("C", b.C, s.C);
    this.#check("D", b.D, s.D);
    this.#check("deltaBias", b.deltaBias, s.deltaBias);
    if (b.state !== undefined && (!b.state || b.state.size < this.stateBytes)) {
      throw new ScanShapeError(
        `${this.label}: buffer 'state' has ${b.state?.size} bytes, needs ${this.stateBytes} (stateBytes)`,
      );
    }
  }

  /** The serial-row forward of this layout (vec4 variant where it fits). */
  #serialForwardWgsl(saveState: boolean): string {
    const { layout, tuning, dims } = this;
    return (forwardVec4Fits(layout, tuning) ? forwardVec4Wgsl : forwardWgsl)(
      layout,
      tuning,
      dims,
      saveState,
    );
  }

  #group(pipeline: GPUComputePipeline, buffers: GPUBuffer[]): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.#layouts.get(pipeline)!,
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  encodeForward(encoder: GPUCommandEncoder, b: CoreForwardBuffers, outName: string): void {
    this.#checkInputs(b);
    this.#check(outName, b.out, this.sizes.out);
    const serial = this.tuning.forward === "serial-row";
    let state = b.state;
    // The serial-row forward has a variant without checkpoint stores; the workgroup-scan
    // forward always writes them.
    const pipeline = serial && !state
      ? this.#pipeline("forward without checkpoints", () => ({
        code: this.#serialForwardWgsl(false),
        entryPoint: "forward",
        kinds: "rrrrrrrww",
      }))
      : this.#pipeline("forward", () => ({
        code: serial
          ? this.#serialForwardWgsl(true)
          : forwardScanWgsl(this.layout, this.tuning, this.dims, 64, 4),
        entryPoint: "forward",
        kinds: "rrrrrrrww",
      }));
    if (!state) {
      // Bound in the state's place: unused by the serial-row kernel without checkpoints;
      // scratch for the workgroup-scan forward, which always writes them.
      state = this.#dummy ??= this.device.createBuffer({
        label: `${this.label} unused state`,
        size: serial ? 16 : Math.max(16, this.stateBytes),
        usage: GPUBufferUsage.STORAGE,
      });
    }
    const pass = encoder.beginComputePass({ label: `${this.label} forward` });
    const [pB, pC] = this.#packBC(pass, b.B, b.C);
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      this.#group(pipeline, [b.u, b.delta, b.A, pB, pC, b.D, b.deltaBias, b.out, state]),
    );
    if (serial) {
      pass.dispatchWorkgroups(this.dims.slices, this.dims.parallelGroups, this.layout.batch);
    } else {
      pass.dispatchWorkgroups(this.layout.channels, this.dims.parallelGroups, this.layout.batch);
    }
    pass.end();
  }

  /**
   * Encodes the cross layout's inference forward with Δ projected in the kernel from the dt
   * rows (`dt` holds them at `slot`; `weight` is `(4, Di, R)`): no Δ buffer is read, no
   * checkpoints are written.
   */
  encodeForwardProjected(
    encoder: GPUCommandEncoder,
    b: Omit<CoreForwardBuffers, "delta" | "state"> & { dt: GPUBuffer; dtWeight: GPUBuffer },
    slot: DtSlot,
    dtSize: number,
    outName: string,
  ): void {
    this.#checkInputs(b, false);
    this.#check("dt", b.dt, dtSize);
    this.#check("dtWeight", b.dtWeight, 4 * this.layout.channels * slot.rank);
    this.#check(outName, b.out, this.sizes.out);
    const pipeline = this.#pipeline("forward with the dt projection", () => ({
      code: forwardWgsl(this.layout, this.tuning, this.dims, false, slot),
      entryPoint: "forward",
      kinds: "rrrrrrrwr",
    }));
    const pass = encoder.beginComputePass({ label: `${this.label} forward (projected Δ)` });
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      this.#group(pipeline, [
        b.u,
        b.dt,
        b.A,
        b.B,
        b.C,
        b.D,
        b.deltaBias,
        b.out,
        b.dtWeight,
      ]),
    );
    pass.dispatchWorkgroups(this.dims.slices, this.dims.parallelGroups, this.layout.batch);
    pass.end();
  }

  encodeBackward(
    encoder: GPUCommandEncoder,
    b: CoreBackwardBuffers,
    names: { dout: string; du: string; dB: number; dC: number },
  ): void {
    this.#checkInputs(b);
    if (!b.state) {
      throw new ScanShapeError(
        `${this.label}: buffer 'state' is missing (the backward needs the forward's checkpoints)`,
      );
    }
    const s = this.sizes;
    this.#check(names.dout, b.dout, s.out);
    this.#check(names.du, b.du, s.u);
    this.#check("ddelta", b.ddelta, s.delta);
    this.#check("dA", b.dA, s.A);
    this.#check("dB", b.dB, names.dB);
    this.#check("dC", b.dC, names.dC);
    this.#check("dD", b.dD, s.D);
    this.#check("dDeltaBias", b.dDeltaBias, s.deltaBias);
    const l = this.layout;
    this.#rk ??= this.device.createBuffer({
      label: `${this.label} adjoint carries`,
      size: this.stateBytes,
      usage: GPUBufferUsage.STORAGE,
    });
    this.#pp ??= this.device.createBuffer({
      label: `${this.label} dA/dD/dbias partials`,
      size: l.batch * this.dims.totalChannels * (l.dState + 2) * 4,
      usage: GPUBufferUsage.STORAGE,
    });
    const pass = encoder.beginComputePass({ label: `${this.label} backward` });
    const [pB, pC] = this.#packBC(pass, b.B, b.C);
    let { u, delta, dout, du, ddelta } = b;
    const cm = this.channelMajorBackward;
    if (cm) {
      const L = l.length, Di = l.channels;
      const t = this.#scratch(s.u, s.delta);
      this.#transpose(pass, u, t.u, L, Di);
      this.#transpose(pass, delta, t.delta, L, 4 * Di);
      this.#transpose(pass, dout, t.dout, L, Di);
      [u, delta, dout, du, ddelta] = [t.u, t.delta, t.dout, t.du, t.ddelta];
    }
    // Bindings 0–8 are the same for both kernels: the inputs, dy and the checkpoints.
    const shared = [u, delta, b.A, pB, pC, b.D, b.deltaBias, dout, b.state];
    const rows = this.#pipeline("backward rows", () => ({
      code: backwardRowsWgsl(this.#backwardLayout(), this.tuning, this.dims),
      entryPoint: "backward",
      kinds: "rrrrrrrrrwwww",
    }));
    pass.setPipeline(rows);
    pass.setBindGroup(0, this.#group(rows, [...shared, du, ddelta, this.#rk, this.#pp]));
    pass.dispatchWorkgroups(this.dims.slices, this.dims.parallelGroups, l.batch);

    const bc = this.#pipeline("backward dB/dC", () => ({
      code: backwardBcWgsl(this.#backwardLayout(), this.tuning, this.dims, this.#bcWorkgroup),
      entryPoint: "backward_bc",
      kinds: "rrrrrrrrrrww",
    }));
    pass.setPipeline(bc);
    pass.setBindGroup(0, this.#group(bc, [...shared, this.#rk, b.dB, b.dC]));
    pass.dispatchWorkgroups(
      ...flatDispatch(l.batch * l.groups * this.dims.chunks, this.#bcWorkgroup),
    );
    const reduce = this.#pipeline("reduce dA/dD/dbias", () => ({
      code: reduceParamsWgsl(l, this.tuning, this.dims),
      entryPoint: "reduce",
      kinds: "rwww",
    }));
    pass.setPipeline(reduce);
    pass.setBindGroup(0, this.#group(reduce, [this.#pp, b.dA, b.dD, b.dDeltaBias]));
    pass.dispatchWorkgroups(...flatDispatch(this.dims.totalChannels * (l.dState + 2)));
    if (cm) {
      this.#transpose(pass, du, b.du, l.channels, l.length);
      this.#transpose(pass, ddelta, b.ddelta, 4 * l.channels, l.length);
    }
    pass.end();
  }

  /** The channel-major scratch buffers (allocated on first use, kept). */
  #scratch(uSize: number, deltaSize: number): ChannelMajorScratch {
    const make = (name: string, size: number) =>
      this.device.createBuffer({
        label: `${this.label} channel-major ${name}`,
        size: size * 4,
        usage: GPUBufferUsage.STORAGE,
      });
    return this.#cm ??= {
      u: make("u", uSize),
      delta: make("delta", deltaSize),
      dout: make("dout", uSize),
      du: make("du", uSize),
      ddelta: make("ddelta", deltaSize),
    };
  }

  /** Encodes `(batch, rows, cols) → (batch, cols, rows)` from `x` into `y`. */
  #transpose(
    pass: GPUComputePassEncoder,
    x: GPUBuffer,
    y: GPUBuffer,
    rows: number,
    cols: number,
  ): void {
    const pipeline = this.#pipeline(`transpose ${rows}×${cols}`, () => ({
      code: transposeWgsl(rows, cols),
      entryPoint: "transpose",
      kinds: "rw",
    }));
    // One invocation per 4×4 block when both sides are multiples of 4 (as transposeWgsl).
    const vec = rows % 4 === 0 && cols % 4 === 0;
    const blocks = vec ? (rows / 4) * (cols / 4) : rows * cols;
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, this.#group(pipeline, [x, y]));
    pass.dispatchWorkgroups(...flatDispatch(blocks, 64), this.layout.batch);
  }

  destroy(): void {
    this.#dummy?.destroy();
    this.#dummy = undefined;
    for (const buffer of Object.values(this.#cm ?? {})) buffer.destroy();
    this.#cm = undefined;
    this.#packed?.destroy();
    this.#packed = undefined;
    this.#rk?.destroy();
    this.#pp?.destroy();
    this.#rk = undefined;
    this.#pp = undefined;
  }
}
