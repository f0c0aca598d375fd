/**
 * How the optimizer kernels (AdamW's update, the gradient norm and its scaling) cover a
 * tensor: the kernel shape options, and the split of a tensor into a `vec4` body and a
 * scalar tail, one dispatch each.
 *
 * @module
 */

import type { Bindable } from "./engine.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Tuning knobs of the optimizer's kernels. The update does the same operations per element
 * in the same order under every shape; only the summation order of the gradient norm
 * changes. Defaults (fastest on lavapipe, BENCHMARKS.md "AdamW"): `vec4` loads, one vector
 * per invocation, 256 invocations per workgroup, 16 vectors per invocation in the norm's
 * partial sums.
 */
export interface AdamWKernelOptions {
  /**
   * Elements per load and store: 4 (`vec4`, default) or 1. With 4, the last 1–3 elements of
   * a tensor whose size is not a multiple of 4 are updated by a second, scalar dispatch.
   */
  vectorWidth?: 1 | 4;
  /** Vectors each invocation of the update updates, grid-strided (default 1). */
  vectorsPerInvocation?: number;
  /** Invocations per workgroup of the update, norm and scale kernels (default 256). */
  workgroupSize?: number;
  /** Consecutive vectors each invocation sums for the gradient norm (default 16). */
  normVectorsPerInvocation?: number;
}

/** {@linkcode AdamWKernelOptions} with the defaults filled in. */
export interface KernelShape {
  vec: 1 | 4;
  per: number;
  wg: number;
  normPer: number;
}

export function kernelShape(op: string, options: AdamWKernelOptions = {}): KernelShape {
  const {
    vectorWidth = 4,
    vectorsPerInvocation = 1,
    workgroupSize = 256,
    normVectorsPerInvocation = 16,
  } = options;
  if (vectorWidth !== 1 && vectorWidth !== 4) {
    throw new RangeError(`${op}: kernel.vectorWidth must be 1 or 4, got ${vectorWidth}`);
  }
  for (
    const [name, value, max] of [
      ["vectorsPerInvocation", vectorsPerInvocation, 64],
      ["workgroupSize", workgroupSize, 1024],
      ["normVectorsPerInvocation", normVectorsPerInvocation, 4096],
    ] as const
  ) {
    if (!(Number.isInteger(value) && value >= 1 && value <= max)) {
      throw new RangeError(`${op}: kernel.${name} must be an integer in [1, ${max}], got ${value}`);
    }
  }
  return {
    vec: vectorWidth,
    per: vectorsPerInvocation,
    wg: workgroupSize,
    normPer: normVectorsPerInvocation,
  };
}

/** One dispatch's share of a tensor: `count` elements of `width` floats from element `start`. */
export interface Part {
  width: 1 | 4;
  count: number;
  start: number;
}

/**
 * How the kernels cover `n` elements: `vec4` whole vec4s (when `vec` is 4) and a scalar tail
 * from the first element they leave, as one dispatch each (empty parts left out).
 */
export function parts(n: number, vec: 1 | 4): Part[] {
  const vectors = vec === 4 ? Math.floor(n / 4) : 0;
  const out: Part[] = [];
  if (vectors > 0) out.push({ width: 4, count: vectors, start: 0 });
  if (vectors * 4 < n) out.push({ width: 1, count: n - vectors * 4, start: vectors * 4 });
  return out;
}

/** The binding of `t` for a part: its first `count` vec4s, or the whole buffer as scalars. */
export function bindPart(t: Tensor, part: Part, op: string): Bindable | Tensor {
  return part.width === 4 ? vec4Range(t, part.count, op) : t;
}

/** A tensor's first `vectors` vec4 as a binding (its buffer may be longer). */
function vec4Range(t: Tensor, vectors: number, op: string): Bindable {
  return { buffer: t.storageFor(op).buffer, offset: 0, size: vectors * 16 };
}

/** WGSL array type of `vec`-wide elements. */
export function arrayType(vec: 1 | 4): string {
  return vec === 4 ? "array<vec4<f32>>" : "array<f32>";
}
