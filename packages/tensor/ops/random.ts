/**
 * Random tensors filled on the GPU from the seeded Philox generator ({@linkcode RNG_WGSL}),
 * with the same values as the CPU draws of {@linkcode Rng} (bit-identical uniforms).
 *
 * @module
 */

import type { Engine } from "../engine.ts";
import { type Rng, RNG_WGSL, seedKey } from "../rng.ts";
import type { Tensor } from "../tensor.ts";

const WG = 256;

function fill(
  engine: Engine,
  shape: readonly number[],
  rng: Rng,
  normal: boolean,
  a: number,
  b: number,
): Tensor {
  const out = engine.empty(shape);
  if (out.size === 0) return out;
  const key = `nn.random.${normal ? "normal" : "uniform"}`;
  const kernel = engine.kernel(key, () => ({
    params: { n: "u32", key0: "u32", key1: "u32", stream: "u32", a: "f32", b: "f32" },
    bindings: [{ name: "y", access: "read_write" }],
    code: RNG_WGSL + /* wgsl */ `
// One invocation per element i: element i of Philox stream (seed, stream), then ${
      normal ? "mean + std·z" : "low + (high − low)·u"
    }.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  if (i >= params.n) { return; }
  let key = vec2<u32>(params.key0, params.key1);
  y[i] = params.a + params.b * ${
      normal ? "philox_normal" : "philox_uniform"
    }(key, params.stream, i);
}`,
  }));
  const [k0, k1] = seedKey(rng.seed);
  engine.dispatch({
    kernel,
    bindings: [out],
    params: { n: out.size, key0: k0, key1: k1, stream: rng.nextStream(), a, b },
    workgroups: engine.grid(out.size, WG),
    op: key,
  });
  return out;
}

/**
 * A tensor of uniforms in [low, high) drawn on the GPU from the next stream of `rng`: the
 * same values as `low + (high − low)·rng.uniform(n)` on the CPU (bit-identical for [0, 1)).
 *
 * @param engine The engine.
 * @param shape The shape.
 * @param rng The generator (one stream is consumed).
 * @param low Lower bound (default 0).
 * @param high Upper bound (default 1).
 * @returns The tensor (not on the tape).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, randomUniformTensor, Rng } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const u = randomUniformTensor(engine, [2, 3], new Rng(42));
 * const v = await u.read();
 * assert.equal(v.length, 6);
 * assert.ok(v.every((x) => x >= 0 && x < 1));
 * engine.destroy();
 * ```
 */
export function randomUniformTensor(
  engine: Engine,
  shape: readonly number[],
  rng: Rng,
  low: number = 0,
  high: number = 1,
): Tensor {
  return fill(engine, shape, rng, false, low, high - low);
}

/**
 * A tensor of normals N(mean, std²) drawn on the GPU (Box–Muller) from the next stream of
 * `rng`; equal to `rng.normal(n)` on the CPU up to float32 rounding of `log`/`cos`.
 *
 * @param engine The engine.
 * @param shape The shape.
 * @param rng The generator (one stream is consumed).
 * @param mean Mean (default 0).
 * @param std Standard deviation (default 1).
 * @returns The tensor (not on the tape).
 */
export function randomNormalTensor(
  engine: Engine,
  shape: readonly number[],
  rng: Rng,
  mean: number = 0,
  std: number = 1,
): Tensor {
  return fill(engine, shape, rng, true, mean, std);
}
