/**
 * The launch plan of every scan kernel: name, binding kinds, workgroup size and grid. The
 * host code dispatches exactly these grids, and {@linkcode ScanKernelPlan}s (what
 * `deno task bench scan --plan` prints) are computed from them, so the plan is the launch.
 *
 * @module
 */

import type { KernelDims, KernelLayout, KernelTuning } from "./_wgsl_header.ts";
import { applyGroups, applySlotCount, applySlots, carryLanes, FLAT_WG } from "./_wgsl_chunked.ts";

/** One kernel launch: what `ScanCore` dispatches. */
export interface KernelDispatch {
  /** Pipeline name (also the plan's kernel name). */
  name: string;
  /** Binding kinds in order: `r` read-only storage, `w` read-write storage, `u` uniform. */
  kinds: string;
  /** Invocations per workgroup. */
  workgroupSize: number;
  /** Workgroups per dispatch, x·y·z. */
  grid: [number, number, number];
  /** Dispatches per call (the cross layout's apply passes: one per direction). */
  dispatches: number;
  /** Transposes only: `(rows, cols)` of the `(batch, rows, cols) → (batch, cols, rows)` copy. */
  transpose?: [number, number];
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

/**
 * A 2-D grid of `wg`-wide workgroups covering `count` invocations: x at most 65535, the
 * rows as even as possible (so that few workgroups idle past the end).
 */
export function flatDispatch(count: number, wg = 256): [number, number] {
  const groups = Math.max(1, Math.ceil(count / wg));
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}

function flat(name: string, kinds: string, count: number, wg: number, dispatches = 1) {
  const [x, y] = flatDispatch(count, wg);
  return { name, kinds, workgroupSize: wg, grid: [x, y, 1], dispatches } as KernelDispatch;
}

/** `workgroups` workgroups of `wg` invocations, flat over a 2-D grid. */
function perGroup(
  name: string,
  kinds: string,
  workgroups: number,
  wg: number,
  dispatches = 1,
): KernelDispatch {
  return { ...flat(name, kinds, workgroups, 1, dispatches), workgroupSize: wg };
}

/** Workgroup width of the CPU family's dB/dC kernel: narrower when there are few chunks. */
export function bcWorkgroupSize(l: KernelLayout, m: KernelDims): number {
  const count = l.batch * l.groups * m.chunks;
  let wg = 64;
  while (wg > 8 && Math.ceil(count / wg) < 8) wg /= 2;
  return wg;
}

/** The generic layout's B/C packing pass (none for the cross layout). */
function packBc(l: KernelLayout, m: KernelDims): KernelDispatch[] {
  if (l.kind !== "generic") return [];
  return [flat("pack B/C", "rrw", l.batch * l.groups * l.length * m.packedStride, 256)];
}

/** The transposes of the CPU family's channel-major backward. */
function transposes(l: KernelLayout, into: boolean): KernelDispatch[] {
  const one = (rows: number, cols: number) => {
    const vec = rows % 4 === 0 && cols % 4 === 0;
    const blocks = vec ? (rows / 4) * (cols / 4) : rows * cols;
    const [x, y] = flatDispatch(blocks, 64);
    return {
      name: `transpose ${rows}×${cols}`,
      kinds: "rw",
      workgroupSize: 64,
      grid: [x, y, l.batch],
      dispatches: 1,
      transpose: [rows, cols],
    } as KernelDispatch;
  };
  const L = l.length, Di = l.channels;
  return into ? [one(L, Di), one(L, 4 * Di), one(L, Di)] : [one(Di, L), one(4 * Di, L)];
}

/**
 * The forward's launches: with `save` false the inference forward (no checkpoints kept);
 * `projected` is the CPU family's inference forward that computes Δ from the dt rows.
 */
export function forwardDispatches(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  save: boolean,
  projected = false,
): KernelDispatch[] {
  if (projected) {
    return [{
      name: "forward with the dt projection",
      kinds: "rrrrrrrwr",
      workgroupSize: t.workgroupSize,
      grid: [m.slices, m.parallelGroups, l.batch],
      dispatches: 1,
    }];
  }
  if (t.forward === "chunked") {
    return [
      ...packBc(l, m),
      flat("forward local", "rrrrrw", l.batch * m.chunks * m.totalChannels, FLAT_WG),
      perGroup("forward carry", "rw", l.batch * m.totalChannels, carryWidth(l, m)),
      apply(l, m, "forward apply", "rrrrrrrwru"),
    ];
  }
  const serial = t.forward === "serial-row";
  return [...packBc(l, m), {
    name: serial && !save ? "forward without checkpoints" : "forward",
    kinds: "rrrrrrrww",
    workgroupSize: serial ? t.workgroupSize : 64,
    grid: serial ? [m.slices, m.parallelGroups, l.batch] : [l.channels, m.parallelGroups, l.batch],
    dispatches: 1,
  }];
}

/** An apply pass: `NV` invocations per slot, one dispatch per direction (cross layout). */
function apply(l: KernelLayout, m: KernelDims, name: string, kinds: string): KernelDispatch {
  const slots = applySlots(m.nv);
  return perGroup(
    name,
    kinds,
    Math.ceil(applySlotCount(l, m) / slots),
    slots * m.nv,
    l.groups / applyGroups(l),
  );
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
  if (t.forward === "chunked") {
    return [
      ...packBc(l, m),
      flat(
        "backward local",
        "rrrrrrw",
        Math.max(l.batch * m.chunks * CH, CH * N),
        FLAT_WG,
      ),
      perGroup("backward carry", "rw", l.batch * CH, carryWidth(l, m)),
      apply(l, m, "backward apply", "rrrrrrwwwu"),
      perGroup(
        "backward dB/dC",
        "rrrrrrrww",
        l.batch * l.groups * m.chunks,
        t.chunkLength * N,
      ),
      perGroup("reduce dA/dD/dbias", "rwww", CH * (N + 2), FLAT_WG),
    ];
  }
  return [
    ...packBc(l, m),
    flat("pack parameters", "rrrw", CH * (N + 2), 256),
    ...(channelMajor ? transposes(l, true) : []),
    {
      name: "backward rows",
      kinds: "rrrrrrwww",
      workgroupSize: t.workgroupSize,
      grid: [m.slices, m.parallelGroups, l.batch],
      dispatches: 1,
    },
    flat(
      "backward dB/dC",
      "rrrrrrrww",
      l.batch * l.groups * m.chunks,
      bcWorkgroupSize(l, m),
    ),
    flat("reduce dA/dD/dbias", "rwww", CH * (N + 2), 256),
    ...(channelMajor ? transposes(l, false) : []),
  ];
}

/** Storage buffers a dispatch binds. */
export function storageBuffers(d: KernelDispatch): number {
  return [...d.kinds].filter((k) => k !== "u").length;
}

/** The plan lines of a list of dispatches. */
export function planOf(
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
  projectedInference: boolean,
): ScanKernelPlan[] {
  return [
    ...planOf("forward", forwardDispatches(l, t, m, true)),
    ...planOf("backward", backwardDispatches(l, t, m, channelMajor)),
    ...planOf("inference", forwardDispatches(l, t, m, false, projectedInference)),
  ];
}
