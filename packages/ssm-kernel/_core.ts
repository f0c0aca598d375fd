/**
 * Host side shared by {@linkcode SelectiveScan} and {@linkcode CrossScan2d}: compiles each
 * pipeline of one shape configuration once, on first use, and encodes them over caller-owned
 * buffers.
 *
 * @module
 */

import { ScanShapeError } from "./errors.ts";
import type {
  ScanBufferSizes,
  SelectiveScanBackwardBuffers,
  SelectiveScanForwardBuffers,
} from "./scan_buffers.ts";
import { knownSubgroupsDirective, PARAMS_WORDS } from "@vmunet/wgsl";
import {
  type KernelDims,
  kernelDims,
  type KernelLayout,
  type KernelTuning,
} from "./_wgsl_header.ts";
import type { DtSlot } from "./_wgsl_forward.ts";
import { cpuWorkspace } from "./_wgsl_backward.ts";
import { APPLY_PARAMS, chunkedLayout } from "./_wgsl_chunked.ts";
import {
  backwardDispatches,
  forwardDispatches,
  type KernelDispatch,
  type ScanKernelPlan,
  scanPlan,
  storageBuffers,
} from "./_plan.ts";

/** Channel-major copies the cross-scan backward runs on. */
type ChannelMajorScratch = Record<"u" | "delta" | "dout" | "du" | "ddelta", GPUBuffer>;

/** The compiled kernels of one layout and tuning. */
export class ScanCore {
  readonly device: GPUDevice;
  readonly layout: KernelLayout;
  readonly tuning: KernelTuning;
  readonly dims: KernelDims;
  readonly sizes: ScanBufferSizes;
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
  /** The backward's internal workspace (carries, partial sums, packed parameters). */
  #ws: GPUBuffer | undefined;
  /** The chunked apply passes' {@linkcode APPLY_PARAMS} (one 256-byte slot per direction). */
  #directions: GPUBuffer | undefined;
  /** Cross layout, channel-major backward: transposed copies of u, Δ, dy, du, dΔ. */
  #cm: ChannelMajorScratch | undefined;
  #layouts: Map<GPUComputePipeline, GPUBindGroupLayout> = new Map();
  /** `enable subgroups;` where the device's WGSL wants it and the kernels use subgroups. */
  #directive = "";

  constructor(
    device: GPUDevice,
    layout: KernelLayout,
    tuning: KernelTuning,
    sizes: ScanBufferSizes,
    label: string,
    channelMajorBackward = false,
  ) {
    this.device = device;
    // The cross layout's config decides it (never with the chunked family).
    this.channelMajorBackward = channelMajorBackward;
    const lim = device.limits;
    // The flat grids stay within the device's limit per dimension.
    tuning = { ...tuning, maxWorkgroupsPerDimension: lim.maxComputeWorkgroupsPerDimension };
    this.layout = layout;
    this.tuning = tuning;
    this.sizes = sizes;
    this.label = label;
    const dims = kernelDims(layout, tuning);
    this.dims = dims;
    const launches = [
      ...forwardDispatches(layout, tuning, dims, true),
      ...backwardDispatches(layout, tuning, dims, this.channelMajorBackward),
    ];
    const bindings = Math.max(...launches.map(storageBuffers));
    if (lim.maxStorageBuffersPerShaderStage < bindings) {
      throw new ScanShapeError(
        `${label}: device limit maxStorageBuffersPerShaderStage is ${lim.maxStorageBuffersPerShaderStage}, ` +
          `the scan kernels need ${bindings}; request the device with ` +
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
    const over = launches.find((d) => d.grid.some((n) => n > lim.maxComputeWorkgroupsPerDimension));
    if (over) {
      throw new ScanShapeError(
        `${label}: kernel '${over.name}' needs a grid of ${over.grid.join("×")} workgroups, ` +
          `above the device's maxComputeWorkgroupsPerDimension ${lim.maxComputeWorkgroupsPerDimension}`,
      );
    }
    const widest = Math.max(...launches.map((d) => d.workgroupSize));
    if (widest > lim.maxComputeInvocationsPerWorkgroup) {
      throw new ScanShapeError(
        `${label}: a kernel needs ${widest} invocations per workgroup, above the device's ` +
          `maxComputeInvocationsPerWorkgroup ${lim.maxComputeInvocationsPerWorkgroup} ` +
          `(lower workgroupSize, or chunkLength for the chunked family)`,
      );
    }
    const chunked = tuning.forward === "chunked";
    this.stateBytes = chunked
      ? chunkedLayout(layout, dims).stateFloats * 4
      : layout.batch * dims.totalChannels * dims.chunks * dims.nv * 16;
    const maxBinding = lim.maxStorageBufferBindingSize;
    const checks: [string, number][] = [
      ["state", this.stateBytes],
      ["workspace", this.#workspaceBytes()],
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
  }

  /**
   * The launch plan of forward, backward and inference forward (with `projectedInference`,
   * the CPU family's forward that projects Δ from the dt rows there).
   */
  plan(projectedInference?: DtSlot): ScanKernelPlan[] {
    return scanPlan(
      this.layout,
      this.tuning,
      this.dims,
      this.channelMajorBackward,
      projectedInference,
    );
  }

  #workspaceBytes(): number {
    return this.tuning.forward === "chunked"
      ? chunkedLayout(this.layout, this.dims).workspaceFloats * 4
      : cpuWorkspace(this.layout, this.dims).vec4s * 16;
  }

  /**
   * The pipeline of launch `d`, compiled on first use from `d.source()`; `d.kinds` gives each
   * binding's type ("r" read-only, "w" read-write storage, "u" uniform) as an explicit
   * layout, so bindings a variant does not use are still accepted.
   */
  #pipeline(d: KernelDispatch): GPUComputePipeline {
    const hit = this.#pipelines.get(d.name);
    if (hit) return hit;
    const { code, entryPoint } = d.source();
    const what = `${this.label} ${d.name}`;
    const bgl = this.device.createBindGroupLayout({
      label: what,
      entries: [...d.kinds].map((k, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: k === "u" ? "uniform" : k === "r" ? "read-only-storage" : "storage" },
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
    this.#pipelines.set(d.name, pipeline);
    return pipeline;
  }

  /**
   * Encodes launch `d` over `buffers` (a `[buffer, offset, size]` entry binds a range), its
   * pipeline compiled from `d.source()` on first use.
   */
  #launch(
    pass: GPUComputePassEncoder,
    d: KernelDispatch,
    buffers: (GPUBuffer | [GPUBuffer, number, number])[],
  ): void {
    const pipeline = this.#pipeline(d);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, this.#group(pipeline, buffers));
    pass.dispatchWorkgroups(...d.grid);
  }

  /** Encodes the B/C packing pass when the layout needs one; returns the buffers to bind. */
  #packBC(
    pass: GPUComputePassEncoder,
    plan: KernelDispatch[],
    B: GPUBuffer,
    C: GPUBuffer,
  ): [GPUBuffer, GPUBuffer] {
    const d = plan.find((p) => p.name === "pack B/C");
    if (!d) return [B, C];
    const l = this.layout;
    this.#packed ??= this.device.createBuffer({
      label: `${this.label} packed B/C`,
      size: l.batch * l.groups * l.length * this.dims.packedStride * 4,
      usage: GPUBufferUsage.STORAGE,
    });
    this.#launch(pass, d, [B, C, this.#packed]);
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
    b: Omit<SelectiveScanForwardBuffers, "delta" | "out"> & { delta?: GPUBuffer },
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

  #group(
    pipeline: GPUComputePipeline,
    buffers: (GPUBuffer | [GPUBuffer, number, number])[],
  ): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.#layouts.get(pipeline)!,
      entries: buffers.map((b, binding) => ({
        binding,
        resource: Array.isArray(b) ? { buffer: b[0], offset: b[1], size: b[2] } : { buffer: b },
      })),
    });
  }

  /** The uniform {@linkcode APPLY_PARAMS} of apply dispatch `k` (generic layout: always 0). */
  #direction(k: number): [GPUBuffer, number, number] {
    const slot = PARAMS_WORDS * 4;
    if (!this.#directions) {
      this.#directions = this.device.createBuffer({
        label: `${this.label} directions`,
        size: 4 * slot,
        usage: GPUBufferUsage.UNIFORM,
        mappedAtCreation: true,
      });
      const words = new Uint32Array(this.#directions.getMappedRange());
      for (let i = 0; i < 4; i++) words.set(APPLY_PARAMS.pack({ direction: i }), i * PARAMS_WORDS);
      this.#directions.unmap();
    }
    return [this.#directions, k * slot, 16];
  }

  /** Scratch bound as `state` when the caller keeps none (inference). */
  #scratchState(bytes: number): GPUBuffer {
    // One size per core: the forward variant is fixed by the tuning.
    return this.#dummy ??= this.device.createBuffer({
      label: `${this.label} unused state`,
      size: Math.max(16, bytes),
      usage: GPUBufferUsage.STORAGE,
    });
  }

  encodeForward(encoder: GPUCommandEncoder, b: SelectiveScanForwardBuffers, outName: string): void {
    this.#checkInputs(b);
    this.#check(outName, b.out, this.sizes.out);
    const { layout: l, tuning: t, dims: m } = this;
    const plan = forwardDispatches(l, t, m, b.state !== undefined);
    const at = (name: string) => plan.find((d) => d.name === name)!;
    const pass = encoder.beginComputePass({ label: `${this.label} forward` });
    const [pB, pC] = this.#packBC(pass, plan, b.B, b.C);
    // Bindings 0–6 of the apply and the CPU-family forward: u, Δ, A, B, C, D, delta_bias.
    const inputs = [b.u, b.delta, b.A, pB, pC, b.D, b.deltaBias];
    if (t.forward === "chunked") {
      // The checkpoints double as the carry pass's scratch: inference binds internal ones.
      const state = b.state ?? this.#scratchState(this.stateBytes);
      this.#launch(pass, at("forward local"), [b.u, b.delta, b.A, pB, b.deltaBias, state]);
      this.#launch(pass, at("forward carry"), [b.A, state]);
      const apply = at("forward apply");
      for (let k = 0; k < apply.dispatches; k++) {
        this.#launch(pass, apply, [...inputs, b.out, state, this.#direction(k)]);
      }
      pass.end();
      return;
    }
    const serial = t.forward === "serial-row";
    const d = plan[plan.length - 1];
    // The serial-row forward has a variant without checkpoint stores; the workgroup-scan
    // forward always writes them (into scratch without a caller's state).
    const state = b.state ?? this.#scratchState(serial ? 16 : this.stateBytes);
    this.#launch(pass, d, [...inputs, b.out, state]);
    pass.end();
  }

  /**
   * Encodes the cross layout's inference forward with Δ projected in the kernel from the dt
   * rows (`dt` holds them at `slot`; `weight` is `(4, Di, R)`): no Δ buffer is read, no
   * checkpoints are written.
   */
  encodeForwardProjected(
    encoder: GPUCommandEncoder,
    b: Omit<SelectiveScanForwardBuffers, "delta" | "state"> & {
      dt: GPUBuffer;
      dtWeight: GPUBuffer;
    },
    slot: DtSlot,
    dtSize: number,
    outName: string,
  ): void {
    this.#checkInputs(b, false);
    this.#check("dt", b.dt, dtSize);
    this.#check("dtWeight", b.dtWeight, 4 * this.layout.channels * slot.rank);
    this.#check(outName, b.out, this.sizes.out);
    const [d] = forwardDispatches(this.layout, this.tuning, this.dims, false, slot);
    const pass = encoder.beginComputePass({ label: `${this.label} forward (projected Δ)` });
    this.#launch(pass, d, [b.u, b.dt, b.A, b.B, b.C, b.D, b.deltaBias, b.out, b.dtWeight]);
    pass.end();
  }

  encodeBackward(
    encoder: GPUCommandEncoder,
    b: SelectiveScanBackwardBuffers,
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
    const { layout: l, tuning: t, dims: m } = this;
    const ws = this.#ws ??= this.device.createBuffer({
      label: `${this.label} backward workspace`,
      size: this.#workspaceBytes(),
      usage: GPUBufferUsage.STORAGE,
    });
    const plan = backwardDispatches(l, t, m, this.channelMajorBackward);
    const at = (name: string) => plan.find((d) => d.name === name)!;
    const pass = encoder.beginComputePass({ label: `${this.label} backward` });
    const [pB, pC] = this.#packBC(pass, plan, b.B, b.C);
    if (t.forward === "chunked") {
      this.#launch(pass, at("backward local"), [b.delta, b.A, pC, b.D, b.deltaBias, b.dout, ws]);
      this.#launch(pass, at("backward carry"), [b.A, ws]);
      // Bindings 0–6 of apply and dB/dC: the inputs, dy, the checkpoints and the workspace.
      const shared = [b.u, b.delta, pB, pC, b.dout, b.state, ws];
      const apply = at("backward apply");
      for (let k = 0; k < apply.dispatches; k++) {
        this.#launch(pass, apply, [...shared, b.du, b.ddelta, this.#direction(k)]);
      }
      this.#launch(pass, at("backward dB/dC"), [...shared, b.dB, b.dC]);
      this.#launch(pass, at("reduce dA/dD/dbias"), [ws, b.dA, b.dD, b.dDeltaBias]);
      pass.end();
      return;
    }
    this.#launch(pass, at("pack parameters"), [b.A, b.D, b.deltaBias, ws]);
    let { u, delta, dout, du, ddelta } = b;
    const cm = this.channelMajorBackward;
    const transposes = plan.filter((d) => d.name.startsWith("transpose"));
    if (cm) {
      const sc = this.#scratch(s.u, s.delta);
      this.#launch(pass, transposes[0], [u, sc.u]);
      this.#launch(pass, transposes[1], [delta, sc.delta]);
      this.#launch(pass, transposes[2], [dout, sc.dout]);
      [u, delta, dout, du, ddelta] = [sc.u, sc.delta, sc.dout, sc.du, sc.ddelta];
    }
    // Bindings 0–5 are the same for both kernels: the inputs, dy and the checkpoints.
    const shared = [u, delta, pB, pC, dout, b.state];
    this.#launch(pass, at("backward rows"), [...shared, du, ddelta, ws]);
    this.#launch(pass, at("backward dB/dC"), [...shared, ws, b.dB, b.dC]);
    this.#launch(pass, at("reduce dA/dD/dbias"), [ws, b.dA, b.dD, b.dDeltaBias]);
    if (cm) {
      this.#launch(pass, transposes[3], [du, b.du]);
      this.#launch(pass, transposes[4], [ddelta, b.ddelta]);
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

  destroy(): void {
    for (
      const buffer of [
        this.#dummy,
        this.#packed,
        this.#ws,
        this.#directions,
        ...Object.values(
          this.#cm ?? {},
        ),
      ]
    ) buffer?.destroy();
    this.#dummy =
      this.#packed =
      this.#ws =
      this.#directions =
      this.#cm =
        undefined;
  }
}
