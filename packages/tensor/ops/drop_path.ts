/**
 * DropPath (stochastic depth, timm's `drop_path`): per-sample keep mask scaled by 1/keep.
 *
 * @module
 */

import { randomUniform, type Rng } from "../rng.ts";
import type { Tensor } from "../tensor.ts";
import { formatShape, ShapeError } from "../tensor_errors.ts";
import { add } from "./elementwise.ts";
import { expectF32, rowLanes } from "../_nn_util.ts";

const WG = 256;
/** Samples whose scales fit in one dispatch's params (64 words minus the header). */
const SAMPLES_PER_DISPATCH = 56;

/** Options of {@linkcode dropPath}. */
export interface DropPathOptions {
  /** Drop probability p (keep = 1 − p). */
  p: number;
  /** Source of the mask: one stream of this generator is consumed per call. */
  rng: Rng;
  /** Training mode (default true); in eval mode, or with p = 0, `x` is returned as is. */
  training?: boolean;
}

/**
 * The per-sample scales of a DropPath call: sample `b` is kept (scale 1/keep) when uniform
 * `b` of stream `stream` under `seed` is below keep (compared in float32), else dropped
 * (scale 0). This is exactly the mask {@linkcode dropPath} applies.
 *
 * @param seed The generator's seed.
 * @param stream The stream the call used.
 * @param batch Number of samples.
 * @param p Drop probability.
 * @returns One scale per sample.
 */
export function dropPathScales(
  seed: number,
  stream: number,
  batch: number,
  p: number,
): Float32Array {
  const keep = Math.fround(1 - p);
  const u = randomUniform(seed, stream, batch);
  const out = new Float32Array(batch);
  for (let b = 0; b < batch; b++) out[b] = u[b] < keep ? 1 / keep : 0;
  return out;
}

/**
 * DropPath: zeroes whole samples (first dim) with probability p and scales the kept ones
 * by 1/(1 − p), as timm's `DropPath` in training. The mask comes from the seeded
 * counter-based {@linkcode Rng} (one stream per call, computed on the CPU: no readback, no
 * extra dispatch) and is reused by the backward. With p = 0 or `training: false` the input
 * itself is returned.
 *
 * @param x Input, first dim = batch.
 * @param options Drop probability, generator, training flag.
 * @returns The masked tensor (or `x`).
 * @throws {RangeError} when p is not in [0, 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dropPath, Engine, Rng } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const x = engine.full([4, 2], 1);
 * const y = dropPath(x, { p: 0.5, rng: new Rng(0) });
 * const v = await y.read(); // each row either [2, 2] (kept, scaled by 1/(1 − p)) or [0, 0]
 * for (let r = 0; r < 4; r++) assert.ok(v[2 * r] === v[2 * r + 1] && (v[2 * r] === 2 || v[2 * r] === 0));
 * engine.destroy();
 * ```
 */
export function dropPath(x: Tensor, options: DropPathOptions): Tensor {
  const op = "dropPath";
  const { p, rng, training = true } = options;
  if (!(p >= 0 && p < 1)) throw new RangeError(`${op}: p must be in [0, 1), got ${p}`);
  expectF32(op, ["x", x]);
  if (p === 0 || !training) return x;
  if (x.rank < 1) throw new ShapeError(op, `x needs a batch dim, got a scalar`);
  const engine = x.engine;
  const batch = x.shape[0];
  const scales = dropPathScales(rng.seed, rng.nextStream(), batch, p);
  const y = engine.empty(x.shape);
  applyScales(x, y, scales, op);
  engine.record(op, [x], [y], ([g]) => {
    if (!g) return [null];
    const dx = engine.empty(x.shape);
    applyScales(g, dx, scales, `${op}.backward`);
    return [dx];
  });
  return y;
}

/**
 * `x + dropPath(branch)` in one kernel (a residual connection with stochastic depth, as in
 * VM-UNet's VSS blocks): the same mask and generator use as {@linkcode dropPath}, one
 * dispatch forward and one backward (∂x is the upstream gradient itself). With p = 0 or
 * `training: false` it is a plain sum.
 *
 * @param x The residual input.
 * @param branch The branch output, same shape as `x` (first dim = batch).
 * @param options Drop probability, generator, training flag.
 * @returns `x + mask·branch/keep`.
 * @throws {RangeError} when p is not in [0, 1); {@linkcode ShapeError} when the shapes differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, residualDropPath, Rng } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const y = residualDropPath(engine.full([4, 2], 1), engine.full([4, 2], 1), {
 *   p: 0.5,
 *   rng: new Rng(0),
 * });
 * const v = await y.read(); // each row either [3, 3] or [1, 1]
 * for (let r = 0; r < 4; r++) assert.ok(v[2 * r] === v[2 * r + 1] && (v[2 * r] === 3 || v[2 * r] === 1));
 * engine.destroy();
 * ```
 */
export function residualDropPath(x: Tensor, branch: Tensor, options: DropPathOptions): Tensor {
  const op = "residualDropPath";
  const { p, rng, training = true } = options;
  if (!(p >= 0 && p < 1)) throw new RangeError(`${op}: p must be in [0, 1), got ${p}`);
  expectF32(op, ["x", x], ["branch", branch]);
  if (x.shape.join() !== branch.shape.join()) {
    throw new ShapeError(
      op,
      `x and branch must have the same shape, got ${formatShape(x.shape)} and ${
        formatShape(branch.shape)
      }`,
    );
  }
  if (p === 0 || !training) return add(x, branch);
  if (x.rank < 1) throw new ShapeError(op, `x needs a batch dim, got a scalar`);
  const engine = x.engine;
  const scales = dropPathScales(rng.seed, rng.nextStream(), x.shape[0], p);
  const y = engine.empty(x.shape);
  applyScales(branch, y, scales, op, x);
  engine.record(op, [x, branch], [y], ([g]) => {
    if (!g) return [null, null];
    if (!branch.requiresGrad) return [g, null];
    const db = engine.empty(x.shape);
    applyScales(g, db, scales, `${op}.backward`);
    return [g, db];
  });
  return y;
}

/**
 * out[b, …] = (residual[b, …] +) x[b, …]·scales[b], in dispatches of up to 56 samples
 * (scales in params); on vec4s when a sample's size is a multiple of 4.
 */
function applyScales(
  x: Tensor,
  out: Tensor,
  scales: Float32Array,
  op: string,
  residual?: Tensor,
): void {
  const engine = x.engine;
  const batch = x.shape[0];
  const size = batch === 0 ? 0 : x.size / batch;
  if (size === 0) return;
  const { v, T } = rowLanes(size);
  const per = size / v;
  const key = `nn.drop_path.${v}${residual ? ".res" : ""}`;
  const kernel = engine.kernel(key, () => ({
    params: { per: "u32", b0: "u32", nb: "u32", scales: ["f32", SAMPLES_PER_DISPATCH] },
    bindings: [
      { name: "x", type: `array<${T}>` },
      ...(residual ? [{ name: "r", type: `array<${T}>` }] : []),
      { name: "y", access: "read_write", type: `array<${T}>` },
    ],
    code: /* wgsl */ `
// One invocation per element (or vec4) of samples [b0, b0 + nb):
// y = ${residual ? "r + " : ""}x·scale[sample].
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let per = params.per; let b0 = params.b0; let nb = params.nb;
  if (i >= per * nb) { return; }
  let k = b0 * per + i;
  y[k] = ${residual ? "r[k] + " : ""}x[k] * params.scales[i / per];
}`,
  }));
  for (let b0 = 0; b0 < batch; b0 += SAMPLES_PER_DISPATCH) {
    const nb = Math.min(SAMPLES_PER_DISPATCH, batch - b0);
    engine.dispatch({
      kernel,
      bindings: residual ? [x, residual, out] : [x, out],
      params: { per, b0, nb, scales: scales.subarray(b0, b0 + nb) },
      workgroups: engine.grid(per * nb, WG),
      op,
    });
  }
}
