/**
 * Test helpers: seeded inputs, parameter snapshots, float64 finite differences.
 *
 * @module
 */

import { Rng, type Tensor } from "@vmunet/tensor";
import type { Array64, ParamLookup } from "./reference.ts";
import type { Module } from "./module.ts";
import { centralDifference, relL2 } from "../../tools/testing.ts";

export { relL2, relMaxErr } from "../../tools/testing.ts";

/** Seeded values in [lo, hi). */
export function seeded(count: number, seed: number, lo = -1, hi = 1): Float64Array {
  const u = new Rng(seed).uniform(count);
  return Float64Array.from(u, (v) => lo + (hi - lo) * v);
}

/** Reads every parameter of a module into float64 arrays by suffix. */
export async function snapshot(module: Module): Promise<Map<string, Float64Array>> {
  const out = new Map<string, Float64Array>();
  for (const [k, t] of module.namedParameters()) out.set(k, Float64Array.from(await t.read()));
  return out;
}

/** A lookup over a snapshot that names the missing key. */
export function lookup(values: ReadonlyMap<string, Float64Array>): ParamLookup {
  return (name) => {
    const v = values.get(name);
    if (!v) throw new Error(`reference needs parameter "${name}"`);
    return v;
  };
}

/** Σ y·seed in float64. */
export function dot(y: Array64, seed: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.data.length; i++) s += y.data[i] * seed[i];
  return s;
}

/**
 * Central differences of `f` with respect to a few entries of each parameter and of the
 * input; compares with the GPU gradients (relative L2 over the sampled entries per tensor).
 *
 * @returns The worst relative error and its tensor name.
 */
export async function gradientCheck(
  module: Module,
  input: { values: Float64Array; grad: Tensor | null },
  loss: (params: ParamLookup, x: Float64Array) => number,
  samples = 4,
  h = 1e-4,
): Promise<{ worst: number; name: string; errors: Map<string, number> }> {
  const params = await snapshot(module);
  const grads = new Map<string, Float32Array>();
  for (const [k, t] of module.namedParameters()) {
    if (!t.grad) throw new Error(`parameter ${k} got no gradient`);
    grads.set(k, (await t.grad.read()) as Float32Array);
  }
  const look = lookup(params);
  const errors = new Map<string, number>();
  const pick = (n: number, salt: number) => {
    const idx = new Set<number>();
    const u = new Rng(salt).uniform(samples * 3);
    for (let i = 0; idx.size < Math.min(samples, n) && i < u.length; i++) {
      idx.add(Math.floor(u[i] * n));
    }
    return [...idx];
  };
  let salt = 1;
  for (const [k, arr] of params) {
    const g = grads.get(k)!;
    const got: number[] = [], want: number[] = [];
    for (const i of pick(arr.length, salt++)) {
      got.push(g[i]);
      want.push(centralDifference(arr, i, h, () => loss(look, input.values)));
    }
    errors.set(k, relL2(got, want));
  }
  if (input.grad) {
    const g = (await input.grad.read()) as Float32Array;
    const got: number[] = [], want: number[] = [];
    for (const i of pick(input.values.length, 999)) {
      got.push(g[i]);
      want.push(centralDifference(input.values, i, h, () => loss(look, input.values)));
    }
    errors.set("input", relL2(got, want));
  }
  let worst = 0, name = "";
  for (const [k, e] of errors) if (!(e <= worst)) [worst, name] = [e, k];
  return { worst, name, errors };
}
