/**
 * The shared head of every scan kernel's WGSL: the layout and tuning the generators bake in,
 * the derived constants ({@linkcode kernelDims}), the prelude of shape constants, softplus and
 * the layout's index functions ({@linkcode header}), and small source-building helpers (u32
 * literals, repeated lines, vec4 literals, storage bindings, the flat 256-wide entry point),
 * and the generic layout's B/C packing pass that produces the records the header indexes.
 *
 * @module
 */

/** Everything the generated WGSL needs to know about shapes and layout (all baked in). */
export interface KernelLayout {
  /** `generic`: mamba layout; `cross`: SS2D channels-last four-direction layout. */
  kind: "generic" | "cross";
  /** Batch size. */
  batch: number;
  /** Sequence length L (H·W for cross). */
  length: number;
  /** Channels per group / per direction. */
  channels: number;
  /** State size N. */
  dState: number;
  /** Number of groups (generic G, cross 4). */
  groups: number;
  /** Cross only: height. */
  height: number;
  /** Cross only: width. */
  width: number;
  /** Element offset of B (cross). */
  bOffset: number;
  /** Stride of B between consecutive (position, direction) records (cross). */
  bStride: number;
  /** Element offset of C (cross). */
  cOffset: number;
  /** Stride of C (cross). */
  cStride: number;
  /**
   * Cross only: u, Δ, the output and their gradients are channel-major — `(B, Di, L)` and
   * `(B, 4·Di, L)` — instead of channels-last, so every row is contiguous along positions.
   */
  channelMajor?: boolean;
}

/** Launch parameters chosen per adapter and shape. */
export interface KernelTuning {
  /** Invocations (consecutive channels) per workgroup of the row kernels. */
  workgroupSize: number;
  /** Positions per checkpoint chunk (also the positions one dB/dC invocation owns). */
  chunkLength: number;
  /** Directions/groups handled serially by one invocation (cross: 4, accumulating outputs). */
  serialGroups: number;
  /** Subgroup width guaranteed by the device for broadcasts of B/C; 0 = no subgroup ops. */
  subgroupWidth: number;
  /** Whether WGSL with subgroup ops starts with `enable subgroups;` (default: probed). */
  subgroupsDirective?: boolean;
  /**
   * Forward variant: one invocation per row walking L, or a workgroup scan per row (both of
   * the CPU family, with the row-walking backward), or the GPU family `chunked`.
   */
  forward: "serial-row" | "workgroup-scan" | "chunked";
  /**
   * The device's `maxComputeWorkgroupsPerDimension`, which the flat dispatch grids stay
   * within (default 65535, what every WebGPU device supports).
   */
  maxWorkgroupsPerDimension?: number;
}

/** Derived constants shared by the generators and the host code. */
export interface KernelDims {
  /** Vec4s of state per channel. */
  nv: number;
  /** Number of checkpoint chunks. */
  chunks: number;
  /** Workgroups along the channels. */
  slices: number;
  /** Total channels (groups·channels). */
  totalChannels: number;
  /** Groups dispatched in parallel. */
  parallelGroups: number;
  /** Floats per packed B/C record of the generic layout. */
  packedStride: number;
}

/** Computes the derived constants. */
export function kernelDims(l: KernelLayout, t: KernelTuning): KernelDims {
  const nv = Math.ceil(l.dState / 4);
  return {
    nv,
    chunks: Math.ceil(l.length / t.chunkLength),
    slices: Math.ceil(l.channels / t.workgroupSize),
    totalChannels: l.groups * l.channels,
    parallelGroups: l.groups / t.serialGroups,
    packedStride: 2 * l.dState,
  };
}

/** A WGSL u32 literal. */
export function u(n: number): string {
  return `${n}u`;
}

/**
 * The WGSL prelude of every scan kernel: shape constants, softplus and the layout's index
 * functions. The one place where the scan kernels' WGSL header is built (a WGSL
 * `enable` directive would go here).
 */
export function header(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const common = `
const NB: u32 = ${u(l.batch)};
const L: u32 = ${u(l.length)};
const DI: u32 = ${u(l.channels)};
const N: u32 = ${u(l.dState)};
const NV: u32 = ${u(m.nv)};
const KALL: u32 = ${u(l.groups)};
const CH: u32 = ${u(m.totalChannels)};
const KSER: u32 = ${u(t.serialGroups)};
const T: u32 = ${u(t.chunkLength)};
const NCH: u32 = ${u(m.chunks)};
const WG: u32 = ${u(t.workgroupSize)};
const LOG2E: f32 = 1.4426950408889634;
// softplus as CUDA (identity above 20); log1p(e) computed as log(w)·e/(w−1) (w = 1+e), which
// keeps full relative precision for tiny e where log(1+e) would round to 0.
fn softplus(z: f32) -> f32 {
  let e = exp(min(z, 20.0));
  let w = 1.0 + e;
  let lp = select(log(w) * e / (w - 1.0), e, w == 1.0);
  return select(lp, z, z > 20.0);
}
`;
  if (l.kind === "generic") {
    const P = m.packedStride;
    return common + `
// B and C are read from an internal copy packed as (B, G, L, 2N): the caller's (B, G, N, L)
// rows are L floats apart, so one position's 2N values would hit 2N cache lines (the same
// cache set when L is a multiple of 1024).
const NSB: u32 = 1u;
const NSC: u32 = 1u;
fn pos(k: u32, t: u32) -> u32 { return t; }
fn iU(b: u32, k: u32, d: u32, p: u32) -> u32 { return (b * CH + k * DI + d) * L + p; }
fn iDl(b: u32, k: u32, d: u32, p: u32) -> u32 { return (b * CH + k * DI + d) * L + p; }
fn iB(b: u32, k: u32, p: u32) -> u32 { return ((b * KALL + k) * L + p) * ${u(P)}; }
fn iC(b: u32, k: u32, p: u32) -> u32 { return ((b * KALL + k) * L + p) * ${u(P)} + N; }
const ONS: u32 = L;
fn oB(b: u32, k: u32, p: u32) -> u32 { return (b * KALL + k) * N * L + p; }
fn oC(b: u32, k: u32, p: u32) -> u32 { return (b * KALL + k) * N * L + p; }
`;
  }
  return common + `
const H: u32 = ${u(l.height)};
const W: u32 = ${u(l.width)};
const NSB: u32 = 1u;
const NSC: u32 = 1u;
// Branch-free: k is uniform but not known to the compiler, and branches cost masks on SIMD.
fn pos(k: u32, t: u32) -> u32 {
  let s = select(t, L - 1u - t, k >= 2u);
  return select(s, (s % H) * W + s / H, (k & 1u) == 1u);
}
${
    l.channelMajor
      ? `fn iU(b: u32, k: u32, d: u32, p: u32) -> u32 { return (b * DI + d) * L + p; }
fn iDl(b: u32, k: u32, d: u32, p: u32) -> u32 { return ((b * 4u + k) * DI + d) * L + p; }`
      : `fn iU(b: u32, k: u32, d: u32, p: u32) -> u32 { return (b * L + p) * DI + d; }
fn iDl(b: u32, k: u32, d: u32, p: u32) -> u32 { return ((b * L + p) * 4u + k) * DI + d; }`
  }
fn iB(b: u32, k: u32, p: u32) -> u32 { return ${u(l.bOffset)} + ((b * L + p) * 4u + k) * ${
    u(l.bStride)
  }; }
fn iC(b: u32, k: u32, p: u32) -> u32 { return ${u(l.cOffset)} + ((b * L + p) * 4u + k) * ${
    u(l.cStride)
  }; }
const ONS: u32 = 1u;
fn oB(b: u32, k: u32, p: u32) -> u32 { return iB(b, k, p); }
fn oC(b: u32, k: u32, p: u32) -> u32 { return iC(b, k, p); }
`;
}

/** `f(0) … f(count − 1)` joined by newlines. */
export function repeat(count: number, f: (j: number) => string): string {
  return Array.from({ length: count }, (_, j) => f(j)).join("\n");
}

/** A vec4 literal of up to four WGSL expressions, zero-padded. */
export function vec4Of(parts: string[]): string {
  while (parts.length < 4) parts.push("0.0");
  return `vec4<f32>(${parts.join(", ")})`;
}

/**
 * Declarations of `f32` storage arrays bound from binding 0 on: first the read-only
 * `read`, then the `readWrite` ones (each name its buffer's WGSL variable).
 */
export function f32Bindings(read: string[], readWrite: string[] = []): string {
  const line = (name: string, i: number, access: string) =>
    `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<f32>;\n`;
  return "\n" + read.map((n, i) => line(n, i, "read")).join("") +
    readWrite.map((n, i) => line(n, read.length + i, "read_write")).join("");
}

/** Bindings 0–6 of the forward kernels: u, Δ, A, B, C, D, delta_bias. */
export const BINDINGS_IN: string = f32Bindings(["U", "DL", "AA", "BB", "CC", "DD", "BIAS"]);

/** Flat invocation index over a 2D dispatch of 256-wide workgroups. */
export const FLAT: string = `
fn flat(lid: vec3<u32>, wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (wg.y * nwg.x + wg.x) * 256u + lid.x;
}
`;

/** Head of a flat 256-wide entry point `name`: `f` is the invocation's flat index. */
export function flatEntry(name: string): string {
  return `
@compute @workgroup_size(256)
fn ${name}(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = flat(lid, wg, nwg);`;
}

/**
 * Generic layout only: packs the caller's `B, C (B, G, N, L)` into `(B, G, L, 2N)` so that
 * one position's B and C are contiguous (the records {@linkcode header}'s `iB`/`iC` read). One invocation per output element.
 */
export function packBcWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  return header(l, t, m) + FLAT + f32Bindings(["BB", "CC"], ["BC"]) + flatEntry("pack") + `
  if (f >= NB * KALL * L * 2u * N) { return; }
  let n2 = f % (2u * N);
  let p = (f / (2u * N)) % L;
  let bk = f / (2u * N * L);
  if (n2 < N) { BC[f] = BB[(bk * N + n2) * L + p]; } else { BC[f] = CC[(bk * N + n2 - N) * L + p]; }
}
`;
}
