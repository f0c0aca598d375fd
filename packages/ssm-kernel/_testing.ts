/**
 * Test helpers: a device with the limits the kernels need, seeded random data and scan
 * inputs, error norms.
 *
 * @module
 */

import type { CrossScanReferenceInputs, ScanReferenceInputs } from "./reference.ts";
import { probeSubgroupsDirective } from "@vmunet/wgsl";
export { relL2 } from "../../tools/testing.ts";

/**
 * Requests a device with raised storage-buffer limits (and `subgroups` when `subgroups`), and
 * probes whether its WGSL wants `enable subgroups;`.
 */
export async function testDevice(subgroups = false): Promise<GPUDevice> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("no WebGPU adapter");
  const device = await adapter.requestDevice({
    requiredFeatures: subgroups ? ["subgroups" as GPUFeatureName] : [],
    requiredLimits: {
      maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  await probeSubgroupsDirective(device);
  return device;
}

/** Deterministic uniform random numbers in [lo, hi) (mulberry32). */
export function randomArray(count: number, seed: number, lo = -1, hi = 1): Float64Array {
  let a = seed >>> 0;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * r;
  }
  return out;
}

/** max |a−b| / max(1, max |b|); NaN if any value of `a` is not finite. */
export function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let r = 0;
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(a[i])) return NaN;
    m = Math.max(m, Math.abs(a[i] - b[i]));
    r = Math.max(r, Math.abs(b[i]));
  }
  return m / Math.max(1, r);
}

/** Value ranges `[lo, hi)` of the seeded scan inputs that are not drawn from [−1, 1). */
export interface InputRanges {
  /** Pre-bias Δ; default [−3, 1). */
  delta: [number, number];
  /** A; default [−2, −0.05). */
  A: [number, number];
  /** delta_bias; default [−1, 0). */
  deltaBias: [number, number];
}

/** The seven arrays of a scan's inputs. */
type ScanArrays = Record<"u" | "delta" | "A" | "B" | "C" | "D" | "deltaBias", Float64Array>;

/**
 * The arrays of `counts`, drawn in their order with seeds `seed, seed + 1, …`: Δ, A and
 * delta_bias in `ranges` (defaults in {@linkcode InputRanges}), the others in [−1, 1).
 */
function seededArrays(
  seed: number,
  ranges: Partial<InputRanges>,
  counts: [keyof ScanArrays, number][],
): ScanArrays {
  const r: InputRanges = { delta: [-3, 1], A: [-2, -0.05], deltaBias: [-1, 0], ...ranges };
  return Object.fromEntries(counts.map(([name, count], i) => {
    const [lo, hi] = name in r ? r[name as keyof InputRanges] : [-1, 1];
    return [name, randomArray(count, seed + i, lo, hi)];
  })) as ScanArrays;
}

/** Seeded generic-layout inputs in `ranges` (defaults in {@linkcode InputRanges}). */
export function genericInputs(
  batch: number,
  G: number,
  Dg: number,
  L: number,
  N: number,
  seed: number,
  ranges: Partial<InputRanges> = {},
): ScanReferenceInputs {
  const CH = G * Dg;
  return {
    batch,
    groups: G,
    channelsPerGroup: Dg,
    length: L,
    dState: N,
    ...seededArrays(seed, ranges, [
      ["u", batch * CH * L],
      ["delta", batch * CH * L],
      ["A", CH * N],
      ["B", batch * G * N * L],
      ["C", batch * G * N * L],
      ["D", CH],
      ["deltaBias", CH],
    ]),
  };
}

/** Seeded cross-scan inputs (B and C dense `(B, H, W, 4, N)`) in `ranges`, as {@linkcode genericInputs}. */
export function crossInputs(
  batch: number,
  H: number,
  W: number,
  Di: number,
  N: number,
  seed: number,
  ranges: Partial<InputRanges> = {},
): CrossScanReferenceInputs {
  const L = H * W;
  return {
    batch,
    height: H,
    width: W,
    channels: Di,
    dState: N,
    ...seededArrays(seed, ranges, [
      ["u", batch * L * Di],
      ["delta", batch * L * 4 * Di],
      ["B", batch * L * 4 * N],
      ["C", batch * L * 4 * N],
      ["A", 4 * Di * N],
      ["D", 4 * Di],
      ["deltaBias", 4 * Di],
    ]),
  };
}
