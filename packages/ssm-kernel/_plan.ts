/**
 * The launch plan of every scan kernel, each declared once: name, binding kinds, WGSL
 * source, workgroup size and grid. The host code compiles and dispatches exactly these, and {@linkcode ScanKernelPlan}s (what
 * `deno task bench scan --plan` prints) are computed from them, so the plan is the launch.
 *
 * @module
 */

import { grid1d } from "@vmunet/wgsl";
import {
  type KernelDims,
  type KernelLayout,
  type KernelTuning,
  packBcWgsl,
} from "./_wgsl_header.ts";
import {
  applyGroups,
  applySlotCount,
  applySlots,
  carryLanes,
  carryWgsl,
  FLAT_WG,
} from "./_wgsl_chunked.ts";
import { applyForwardWgsl, localForwardWgsl } from "./_wgsl_chunked_forward.ts";
import {
  applyBackwardWgsl,
  bcWgsl,
  localBackwardWgsl,
  reduceChunkedWgsl,
} from "./_wgsl_chunked_backward.ts";
import { type DtSlot, forwardScanWgsl, forwardWgsl, serialForwardWgsl } from "./_wgsl_forward.ts";
import {
  backwardBcWgsl,
  backwardRowsWgsl,
  packParamsWgsl,
  reduceParamsWgsl,
  transposeWgsl,
} from "./_wgsl_backward.ts";

/** A kernel's WGSL and its entry point. */
interface KernelSource {
  /** The WGSL module (without the `enable subgroups;` directive). */
  code: string;
  /** The entry point. */
  entryPoint: string;
}

/** One kernel launch: what `ScanCore` dispatches. */
export interface KernelDispatch {
  /** Pipeline name (also the plan's kernel name). */
  name: string;
  /** Binding kinds in order: `r` read-only storage, `w` read-write storage, `u` uniform. */
  kinds: string;
  /** Generates the kernel's WGSL (called once, when its pipeline is first compiled). */
  source: () => KernelSource;
  /** Invocations per workgroup. */
  workgroupSize: number;
  /** Workgroups per dispatch, x·y·z. */
  grid: [number, number, number];
  /** Dispatches per call (the cross layout's apply passes: one per direction). */
  dispatches: number;
}

/** One line of a scan's launch plan. */
export interface ScanKernelPlan {
  /** Which call launches it. */
  pass: "forward" | "backward" | "inference";
  /** Kernel name. */
  kernel: string;
  /** Invocations per workgroup. */
  workgroupSize: number;
  /** Workgroups per dispatch. */
  workgroups: number;
  /** Invocations per dispatch (`workgroupSize · workgroups`). */
  invocations: number;
  /** Dispatches of this kernel per call. */
  dispatches: number;
  /** Storage buffers bound per shader stage. */
  storageBuffers: number;
}

/** What a launch runs: its name, binding kinds and source. */
type Kernel = Pick<KernelDispatch, "name" | "kinds" | "source">;

/** The kernel `name` with bindings `kinds`, entry point `entryPoint` and WGSL `code()`. */
function kernel(name: string, kinds: string, entryPoint: string, code: () => string): Kernel {
  return { name, kinds, source: () => ({ code: code(), entryPoint }) };
}

/** Kernel `k` over the fixed `grid` of `wg`-wide workgroups. */
function fixed(k: Kernel, wg: number, grid: [number, number, number]): KernelDispatch {
  return { ...k, workgroupSize: wg, grid, dispatches: 1 };
}

/**
 * `count` invocations of `wg`-wide workgroups flat over a 2-D grid within the tuning's
 * `maxWorkgroupsPerDimension` (the kernels index with `num_workgroups`).
 */
function flat(
  t: KernelTuning,
  k: Kernel,
  count: number,
  wg: number,
  dispatches = 1,
): KernelDispatch {
  const grid = grid1d(count, wg, t.maxWorkgroupsPerDimension);
  return { ...k, workgroupSize: wg, grid, dispatches };
}

/** `workgroups` workgroups of `wg` invocations, flat over a 2-D grid. */
function perGroup(
  t: KernelTuning,
  k: Kernel,
  workgroups: number,
  wg: number,
  dispatches = 1,
): KernelDispatch {
  return { ...flat(t, k, workgroups, 1, dispatches), workgroupSize: wg };
}

/** Workgroup width of the CPU family's dB/dC kernel: narrower when there are few chunks. */
function bcWorkgroupSize(l: KernelLayout, m: KernelDims): number {
  const count = l.batch * l.groups * m.chunks;
  let wg = 64;
  while (wg > 8 && Math.ceil(count / wg) < 8) wg /= 2;
  return wg;
}

/** The generic layout's B/C packing pass (none for the cross layout). */
function packBc(l: KernelLayout, t: KernelTuning, m: KernelDims): KernelDispatch[] {
  if (l.kind !== "generic") return [];
  const k = kernel("pack B/C", "rrw", "pack", () => packBcWgsl(l, t, m));
  return [flat(t, k, l.batch * l.groups * l.length * m.packedStride, 256)];
}

/** The transposes of the CPU family's channel-major backward. */
function transposes(l: KernelLayout, t: KernelTuning, into: boolean): KernelDispatch[] {
  const one = (rows: number, cols: number) => {
    const vec = rows % 4 === 0 && cols % 4 === 0;
    const blocks = vec ? (rows / 4) * (cols / 4) : rows * cols;
    const [x, y] = grid1d(blocks, 64, t.maxWorkgroupsPerDimension);
    const k = kernel(
      `transpose ${rows}×${cols}`,
      "rw",
      "transpose",
      () => transposeWgsl(rows, cols),
    );
    return fixed(k, 64, [x, y, l.batch]);
  };
  const L = l.length, Di = l.channels;
  return into ? [one(L, Di), one(L, 4 * Di), one(L, Di)] : [one(Di, L), one(4 * Di, L)];
}

/**
 * The forward's launches: with `save` false the inference forward (no checkpoints kept);
 * with `dt` the CPU family's inference forward that computes Δ from the dt rows at `dt`.
 */
export function forwardDispatches(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  save: boolean,
  dt?: DtSlot,
): KernelDispatch[] {
  const rows: [number, number, number] = [m.slices, m.parallelGroups, l.batch];
  if (dt) {
    const k = kernel(
      "forward with the dt projection",
      "rrrrrrrwr",
      "forward",
      () => forwardWgsl(l, t, m, false, dt),
    );
    return [fixed(k, t.workgroupSize, rows)];
  }
  if (t.forward === "chunked") return [...packBc(l, t, m), ...chunkedPasses(l, t, m, false)];
  if (t.forward === "workgroup-scan") {
    const k = kernel("forward", "rrrrrrrww", "forward", () => forwardScanWgsl(l, t, m, 64, 4));
    return [...packBc(l, t, m), fixed(k, 64, [l.channels, m.parallelGroups, l.batch])];
  }
  const name = save ? "forward" : "forward without checkpoints";
  const k = kernel(name, "rrrrrrrww", "forward", () => serialForwardWgsl(l, t, m, save));
  return [...packBc(l, t, m), fixed(k, t.workgroupSize, rows)];
}

/**
 * The chunked family's local, carry and apply passes of the forward, or of the backward (the
 * adjoint, right to left; its local pass also packs the parameters, `CH·N` invocations at
 * least).
 */
function chunkedPasses(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  backward: boolean,
): KernelDispatch[] {
  const pass = backward ? "backward" : "forward";
  const local = kernel(
    `${pass} local`,
    backward ? "rrrrrrw" : "rrrrrw",
    `local_${pass}`,
    () => (backward ? localBackwardWgsl : localForwardWgsl)(l, t, m),
  );
  const carry = kernel(`${pass} carry`, "rw", "carry", () => carryWgsl(l, t, m, backward));
  const apply = kernel(
    `${pass} apply`,
    backward ? "rrrrrrwwwu" : "rrrrrrrwru",
    `apply_${pass}`,
    () => (backward ? applyBackwardWgsl : applyForwardWgsl)(l, t, m),
  );
  const CH = m.totalChannels;
  const chunkRows = l.batch * m.chunks * CH;
  return [
    flat(t, local, backward ? Math.max(chunkRows, CH * l.dState) : chunkRows, FLAT_WG),
    perGroup(t, carry, l.batch * CH, carryWidth(l, m)),
    applyPass(l, t, m, apply),
  ];
}

/** An apply pass: `NV` invocations per slot, one dispatch per direction (cross layout). */
function applyPass(l: KernelLayout, t: KernelTuning, m: KernelDims, k: Kernel): KernelDispatch {
  const slots = applySlots(m.nv);
  const workgroups = Math.ceil(applySlotCount(l, m) / slots);
  return perGroup(t, k, workgroups, slots * m.nv, l.groups / applyGroups(l));
}

/** Invocations per workgroup of the carry kernel. */
function carryWidth(l: KernelLayout, m: KernelDims): number {
  return carryLanes(l.dState, m.chunks) * l.dState;
}

/** The backward's launches (`channelMajor`: the CPU family's transposed copies). */
export function backwardDispatches(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  channelMajor: boolean,
): KernelDispatch[] {
  const CH = m.totalChannels, N = l.dState;
  const bcCount = l.batch * l.groups * m.chunks;
  if (t.forward === "chunked") {
    const bc = kernel("backward dB/dC", "rrrrrrrww", "backward_bc", () => bcWgsl(l, t, m));
    const reduce = kernel("reduce dA/dD/dbias", "rwww", "reduce", () => reduceChunkedWgsl(l, t, m));
    return [
      ...packBc(l, t, m),
      ...chunkedPasses(l, t, m, true),
      perGroup(t, bc, bcCount, t.chunkLength * N),
      perGroup(t, reduce, CH * (N + 2), FLAT_WG),
    ];
  }
  // The CPU family's row and dB/dC kernels walk the channel-major copies when there are any.
  const bl: KernelLayout = channelMajor ? { ...l, channelMajor: true } : l;
  const wg = bcWorkgroupSize(l, m);
  const pack = kernel("pack parameters", "rrrw", "pack", () => packParamsWgsl(l, t, m));
  const rows = kernel("backward rows", "rrrrrrwww", "backward", () => backwardRowsWgsl(bl, t, m));
  const bc = kernel(
    "backward dB/dC",
    "rrrrrrrww",
    "backward_bc",
    () => backwardBcWgsl(bl, t, m, wg),
  );
  const reduce = kernel("reduce dA/dD/dbias", "rwww", "reduce", () => reduceParamsWgsl(l, t, m));
  return [
    ...packBc(l, t, m),
    flat(t, pack, CH * (N + 2), 256),
    ...(channelMajor ? transposes(l, t, true) : []),
    fixed(rows, t.workgroupSize, [m.slices, m.parallelGroups, l.batch]),
    flat(t, bc, bcCount, wg),
    flat(t, reduce, CH * (N + 2), 256),
    ...(channelMajor ? transposes(l, t, false) : []),
  ];
}

/** Storage buffers a dispatch binds. */
export function storageBuffers(d: KernelDispatch): number {
  return [...d.kinds].filter((k) => k !== "u").length;
}

/** The plan lines of a list of dispatches. */
function planOf(
  pass: ScanKernelPlan["pass"],
  dispatches: KernelDispatch[],
): ScanKernelPlan[] {
  return dispatches.map((d) => {
    const workgroups = d.grid[0] * d.grid[1] * d.grid[2];
    return {
      pass,
      kernel: d.name,
      workgroupSize: d.workgroupSize,
      workgroups,
      invocations: workgroups * d.workgroupSize,
      dispatches: d.dispatches,
      storageBuffers: storageBuffers(d),
    };
  });
}

/** The whole plan of one configuration: forward, backward and inference forward. */
export function scanPlan(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  channelMajor: boolean,
  projectedInference?: DtSlot,
): ScanKernelPlan[] {
  return [
    ...planOf("forward", forwardDispatches(l, t, m, true)),
    ...planOf("backward", backwardDispatches(l, t, m, channelMajor)),
    ...planOf("inference", forwardDispatches(l, t, m, false, projectedInference)),
  ];
}
