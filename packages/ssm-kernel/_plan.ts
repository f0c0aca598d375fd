/**
 * The launch plan of every scan kernel: name, binding kinds, workgroup size and grid. The
 * host code dispatches exactly these grids, and {@linkcode ScanKernelPlan}s (what
 * `deno task bench scan --plan` prints) are computed from them, so the plan is the launch.
 *
 * @module
 */

import { grid1d } from "@vmunet/wgsl";
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
 * `count` invocations of `wg`-wide workgroups flat over a 2-D grid within the tuning's
 * `maxWorkgroupsPerDimension` (the kernels index with `num_workgroups`).
 */
function flat(
  t: KernelTuning,
  name: string,
  kinds: string,
  count: number,
  wg: number,
  dispatches = 1,
): KernelDispatch {
  const grid = grid1d(count, wg, t.maxWorkgroupsPerDimension);
  return { name, kinds, workgroupSize: wg, grid, dispatches };
}

/** `workgroups` workgroups of `wg` invocations, flat over a 2-D grid. */
function perGroup(
  t: KernelTuning,
  name: string,
  kinds: string,
  workgroups: number,
  wg: number,
  dispatches = 1,
): KernelDispatch {
  return { ...flat(t, name, kinds, workgroups, 1, dispatches), workgroupSize: wg };
}

/** Workgroup width of the CPU family's dB/dC kernel: narrower when there are few chunks. */
export function bcWorkgroupSize(l: KernelLayout, m: KernelDims): number {
  const count = l.batch * l.groups * m.chunks;
  let wg = 64;
  while (wg > 8 && Math.ceil(count / wg) < 8) wg /= 2;
  return wg;
}

/** The generic layout's B/C packing pass (none for the cross layout). */
function packBc(l: KernelLayout, t: KernelTuning, m: KernelDims): KernelDispatch[] {
  if (l.kind !== "generic") return [];
  return [flat(t, "pack B/C", "rrw", l.batch * l.groups * l.length * m.packedStride, 256)];
}

/** The transposes of the CPU family's channel-major backward. */
function transposes(l: KernelLayout, t: KernelTuning, into: boolean): KernelDispatch[] {
  const one = (rows: number, cols: number) => {
    const vec = rows % 4 === 0 && cols % 4 === 0;
    const blocks = vec ? (rows / 4) * (cols / 4) : rows * cols;
    const [x, y] = grid1d(blocks, 64, t.maxWorkgroupsPerDimension);
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
      ...packBc(l, t, m),
      flat(t, "forward local", "rrrrrw", l.batch * m.chunks * m.totalChannels, FLAT_WG),
      perGroup(t, "forward carry", "rw", l.batch * m.totalChannels, carryWidth(l, m)),
      apply(l, t, m, "forward apply", "rrrrrrrwru"),
    ];
  }
  const serial = t.forward === "serial-row";
  return [...packBc(l, t, m), {
    name: serial && !save ? "forward without checkpoints" : "forward",
    kinds: "rrrrrrrww",
    workgroupSize: serial ? t.workgroupSize : 64,
    grid: serial ? [m.slices, m.parallelGroups, l.batch] : [l.channels, m.parallelGroups, l.batch],
    dispatches: 1,
  }];
}

/** An apply pass: `NV` invocations per slot, one dispatch per direction (cross layout). */
function apply(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  name: string,
  kinds: string,
): KernelDispatch {
  const slots = applySlots(m.nv);
  return perGroup(
    t,
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
      ...packBc(l, t, m),
      flat(
        t,
        "backward local",
        "rrrrrrw",
        Math.max(l.batch * m.chunks * CH, CH * N),
        FLAT_WG,
      ),
      perGroup(t, "backward carry", "rw", l.batch * CH, carryWidth(l, m)),
      apply(l, t, m, "backward apply", "rrrrrrwwwu"),
      perGroup(
        t,
        "backward dB/dC",
        "rrrrrrrww",
        l.batch * l.groups * m.chunks,
        t.chunkLength * N,
      ),
      perGroup(t, "reduce dA/dD/dbias", "rwww", CH * (N + 2), FLAT_WG),
    ];
  }
  return [
    ...packBc(l, t, m),
    flat(t, "pack parameters", "rrrw", CH * (N + 2), 256),
    ...(channelMajor ? transposes(l, t, true) : []),
    {
      name: "backward rows",
      kinds: "rrrrrrwww",
      workgroupSize: t.workgroupSize,
      grid: [m.slices, m.parallelGroups, l.batch],
      dispatches: 1,
    },
    flat(
      t,
      "backward dB/dC",
      "rrrrrrrww",
      l.batch * l.groups * m.chunks,
      bcWorkgroupSize(l, m),
    ),
    flat(t, "reduce dA/dD/dbias", "rwww", CH * (N + 2), 256),
    ...(channelMajor ? transposes(l, t, false) : []),
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
