/**
 * The AdamW step as it was before the vec4 kernels (commit 254e695), kept verbatim in its
 * WGSL so `adamw_table.ts` can time it beside the current one in the same run: one scalar
 * invocation per element with the params read inside the bounds check, and a
 * workgroup-tree norm (64 invocations × 32 elements per workgroup, with barriers).
 *
 * @module
 */

import type { Engine } from "../engine.ts";
import type { Tensor } from "../tensor.ts";
import { Params } from "./_params.ts";

const WG = 256;
const NORM_WG = 64;
const NORM_SPAN = NORM_WG * 32;

/** Moments of one parameter for the baseline step. */
export interface BaselineSlot {
  /** The parameter (its `.grad` is used). */
  param: Tensor;
  /** First moment. */
  m: Tensor;
  /** Second moment. */
  v: Tensor;
  /** Steps taken. */
  step: number;
}

/**
 * Records one baseline AdamW step of every slot (the old kernels), with optional clipping.
 *
 * @param engine The engine.
 * @param slots Parameters with their moments.
 * @param lr Learning rate.
 * @param weightDecay Decoupled weight decay.
 * @param maxGradNorm Clip threshold, if any.
 */
export function baselineStep(
  engine: Engine,
  slots: readonly BaselineSlot[],
  lr: number,
  weightDecay: number,
  maxGradNorm?: number,
): void {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const coef = maxGradNorm === undefined
    ? null
    : baselineCoefficient(engine, slots.map((s) => s.param.grad!), maxGradNorm);
  const kernel = engine.kernel("bench.baseline_adamw", () => ({
    bindings: [
      { name: "p", access: "read_write" },
      { name: "g" },
      { name: "m", access: "read_write" },
      { name: "v", access: "read_write" },
      { name: "clip" },
    ],
    code: /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  if (i >= pu(0u)) { return; }
  var grad = g[i];
  if (pu(1u) != 0u) { grad = grad * clip[1]; }
  let param = p[i] * pf(2u);
  let ma = m[i] * pf(3u) + grad * pf(4u);
  let va = v[i] * pf(5u) + pf(6u) * grad * grad;
  let denom = sqrt(va) / pf(8u) + pf(9u);
  m[i] = ma;
  v[i] = va;
  p[i] = param + (-pf(7u)) * (ma / denom);
}`,
  }));
  for (const s of slots) {
    const p = s.param, g = p.grad!;
    s.step++;
    const bc1 = 1 - b1 ** s.step;
    const bc2 = 1 - b2 ** s.step;
    const words = new Params()
      .u(p.size, coef ? 1 : 0)
      .f(1 - lr * weightDecay, b1, 1 - b1, b2, 1 - b2, lr / bc1, Math.sqrt(bc2), eps)
      .view;
    engine.dispatch({
      kernel,
      bindings: [p, g, s.m, s.v, coef ?? g],
      params: words,
      workgroups: engine.grid(p.size, WG),
      op: "baseline AdamW.step",
    });
  }
  coef?.dispose();
}

function baselineCoefficient(engine: Engine, grads: readonly Tensor[], maxNorm: number): Tensor {
  const spans = grads.map((g) => Math.max(1, Math.ceil(g.size / NORM_SPAN)));
  const slots = spans.reduce((a, b) => a + b, 0);
  const partials = engine.empty([slots]);
  const sq = engine.kernel("bench.baseline_grad_sqsum", () => ({
    bindings: [{ name: "g" }, { name: "out", access: "read_write" }],
    code: /* wgsl */ `
var<workgroup> red: array<f32, ${NORM_WG}>;
@compute @workgroup_size(${NORM_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = pu(0u);
  let span = wid.x + wid.y * nwg.x;
  let i1 = min(n, (span + 1u) * ${NORM_SPAN}u);
  var s = 0.0;
  for (var i = span * ${NORM_SPAN}u + lid.x; i < i1; i += ${NORM_WG}u) { let x = g[i]; s += x * x; }
  red[lid.x] = s;
  workgroupBarrier();
  for (var w = ${NORM_WG / 2}u; w > 0u; w = w / 2u) {
    if (lid.x < w) { red[lid.x] += red[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { out[pu(1u) + span] = red[0]; }
}`,
  }));
  let slot0 = 0;
  grads.forEach((g, i) => {
    engine.dispatch({
      kernel: sq,
      bindings: [g, partials],
      params: [g.size, slot0],
      workgroups: engine.grid(spans[i], 1),
      op: "baseline clipGradNorm",
    });
    slot0 += spans[i];
  });
  const out = engine.empty([2]);
  const fin = engine.kernel("bench.baseline_grad_clip_coef", () => ({
    bindings: [{ name: "part" }, { name: "out", access: "read_write" }],
    code: /* wgsl */ `
var<workgroup> red: array<f32, ${NORM_WG}>;
@compute @workgroup_size(${NORM_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var s = 0.0;
  for (var i = lid.x; i < pu(0u); i += ${NORM_WG}u) { s += part[i]; }
  red[lid.x] = s;
  workgroupBarrier();
  for (var w = ${NORM_WG / 2}u; w > 0u; w = w / 2u) {
    if (lid.x < w) { red[lid.x] += red[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let total = sqrt(red[0]);
    out[0] = total;
    out[1] = min(pf(1u) / (total + 1e-6), 1.0);
  }
}`,
  }));
  engine.dispatch({
    kernel: fin,
    bindings: [partials, out],
    params: new Params().u(slots).f(maxNorm).view,
    workgroups: [1],
    op: "baseline clipGradNorm",
  });
  partials.dispose();
  return out;
}
