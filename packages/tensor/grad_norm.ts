/**
 * Gradient clipping by global norm (`torch.nn.utils.clip_grad_norm_`) on the GPU without
 * readback: per-invocation partial sums of g², one combining dispatch, then an in-place
 * scale. AdamW's `maxGradNorm` uses the same coefficient.
 *
 * @module
 */

import type { Engine } from "./engine.ts";
import type { Tensor } from "./tensor.ts";
import { TensorError } from "./tensor_errors.ts";
import {
  type AdamWKernelOptions,
  arrayType,
  bindPart,
  type KernelShape,
  kernelShape,
  parts,
} from "./_vector_parts.ts";

/** Invocations of the one-workgroup kernel that combines the norm's partial sums. */
const NORM_WG = 64;

/**
 * Partial sums of g² of `vec`-wide elements, `per` consecutive vectors per invocation, each
 * written to its own slot (no float atomics, no workgroup memory, no barrier).
 * Params: n (vectors), slot0, start (first vector).
 */
function sqsumKernel(engine: Engine, vec: 1 | 4, per: number, wg: number) {
  const key = `nn.grad_sqsum.v${vec}x${per}.wg${wg}`;
  return engine.kernel(key, () => ({
    params: { n: "u32", slot0: "u32", start: "u32" },
    bindings: [{ name: "g", type: arrayType(vec) }, { name: "out", access: "read_write" }],
    code: /* wgsl */ `
// Invocation j sums x² over vectors [j·${per}, (j + 1)·${per}) ∩ [0, n) from \`start\` and
// writes out[slot0 + j] (invocations past the end write nothing).
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = params.n;
  let slot0 = params.slot0;
  let start = params.start;
  let j = lin(gid, nwg, ${wg}u);
  let i0 = j * ${per}u;
  let i1 = min(n, i0 + ${per}u);
  var s = ${vec === 4 ? "vec4<f32>(0.0)" : "0.0"};
  for (var i = i0; i < i1; i++) { let x = g[start + i]; s += x * x; }
  if (i0 < n) { out[slot0 + j] = ${vec === 4 ? "(s.x + s.y) + (s.z + s.w)" : "s"}; }
}`,
  }));
}

/** In-place `g ← g·coef[1]` on `vec`-wide elements. Params: n (vectors), start. */
function scaleKernel(engine: Engine, vec: 1 | 4, per: number, wg: number) {
  const key = `nn.grad_scale.v${vec}x${per}.wg${wg}`;
  return engine.kernel(key, () => ({
    params: { n: "u32", start: "u32" },
    bindings: [{ name: "g", access: "read_write", type: arrayType(vec) }, { name: "coef" }],
    code: /* wgsl */ `
// Invocation j scales vectors j + k·stride (k < ${per}); the factor is read before the branch.
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = params.n;
  let start = params.start;
  let c = coef[1];
  let j0 = lin(gid, nwg, ${wg}u);
  let stride = nwg.x * nwg.y * ${wg}u;
  for (var k = 0u; k < ${per}u; k++) {
    let j = j0 + k * stride;
    if (j < n) { g[start + j] = g[start + j] * c; }
  }
}`,
  }));
}

/**
 * `[‖g‖₂ over all gradients, min(1, maxNorm/(‖g‖ + 1e-6))]` on the GPU (a `[2]` tensor):
 * per gradient one partial-sum dispatch over its vec4 body (and one over a 1–3 element
 * scalar tail), each invocation writing its own slot, then one combining dispatch (no float
 * atomics, no readback).
 */
export function gradNormCoefficient(
  engine: Engine,
  grads: readonly Tensor[],
  maxNorm: number,
  shape: KernelShape,
): Tensor {
  const { vec, normPer: per, wg } = shape;
  // Slots: one per invocation of each dispatch that does work.
  const work = grads.map((g) => parts(g.size, vec));
  const used = work.flat().reduce((a, part) => a + Math.ceil(part.count / per), 0);
  const slots = Math.max(1, used);
  const partials = engine.empty([slots]);
  if (used === 0) engine.fill(partials, 0);
  let slot0 = 0;
  grads.forEach((g, i) => {
    for (const part of work[i]) {
      const invocations = Math.ceil(part.count / per);
      engine.dispatch({
        kernel: sqsumKernel(engine, part.width, per, wg),
        bindings: [bindPart(g, part, "clipGradNorm"), partials],
        params: { n: part.count, slot0, start: part.start },
        workgroups: engine.grid(invocations, wg),
        op: "clipGradNorm",
      });
      slot0 += invocations;
    }
  });
  const out = engine.empty([2]);
  const fin = engine.kernel("nn.grad_clip_coef", () => ({
    params: { n: "u32", maxNorm: "f32" },
    bindings: [{ name: "part" }, { name: "out", access: "read_write" }],
    code: /* wgsl */ `
var<workgroup> red: array<f32, ${NORM_WG}>;
// One workgroup: total = √(Σ partial sums of g²), then min(1, max/(total + 1e-6)).
@compute @workgroup_size(${NORM_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let n = params.n;
  let maxNorm = params.maxNorm;
  var s = 0.0;
  for (var i = lid.x; i < n; i += ${NORM_WG}u) { s += part[i]; }
  red[lid.x] = s;
  workgroupBarrier();
  for (var w = ${NORM_WG / 2}u; w > 0u; w = w / 2u) {
    if (lid.x < w) { red[lid.x] += red[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let total = sqrt(red[0]);
    out[0] = total;
    out[1] = min(maxNorm / (total + 1e-6), 1.0);
  }
}`,
  }));
  engine.dispatch({
    kernel: fin,
    bindings: [partials, out],
    params: { n: slots, maxNorm },
    workgroups: [1],
    op: "clipGradNorm",
  });
  partials.dispose();
  return out;
}

/**
 * Scales every gradient in place so that their global L2 norm is at most `maxNorm`, as
 * `torch.nn.utils.clip_grad_norm_` (factor `min(1, maxNorm/(‖g‖ + 1e-6))`), on the GPU
 * without readback.
 *
 * @param params Parameters whose `.grad` is clipped (those without one are skipped).
 * @param maxNorm The threshold.
 * @param kernel Kernel shape (as {@linkcode AdamWOptions.kernel}; defaults measured on lavapipe).
 * @returns The total norm before clipping, a scalar tensor (read it only if needed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clipGradNorm, Engine, mul, sum } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const w = engine.parameter([3, 4], [2], "w");
 * sum(mul(w, engine.tensor([1, 1], [2]))).backward(); // grad [1, 1]
 * const total = clipGradNorm([w], 1);
 * assert.ok(Math.abs((await total.read())[0] - Math.SQRT2) < 1e-6); // the norm before clipping
 * (await w.grad!.read()).forEach((g) => assert.ok(Math.abs(g - Math.SQRT1_2) < 1e-5));
 * await engine.close();
 * ```
 */
export function clipGradNorm(
  params: readonly Tensor[],
  maxNorm: number,
  kernel: AdamWKernelOptions = {},
): Tensor {
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const shape = kernelShape("clipGradNorm", kernel);
  const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
  if (grads.length === 0) throw new TensorError("clipGradNorm", "no parameter has a gradient");
  const engine = grads[0].engine;
  const coef = gradNormCoefficient(engine, grads, maxNorm, shape);
  for (const g of grads) {
    for (const part of parts(g.size, shape.vec)) {
      engine.dispatch({
        kernel: scaleKernel(engine, part.width, shape.per, shape.wg),
        bindings: [bindPart(g, part, "clipGradNorm"), coef],
        params: { n: part.count, start: part.start },
        workgroups: engine.grid(Math.ceil(part.count / shape.per), shape.wg),
        op: "clipGradNorm",
      });
    }
  }
  return viewFirst(engine, coef);
}

/** A `[]` tensor of element 0 of a `[2]` tensor (copy; disposes the input). */
function viewFirst(engine: Engine, t: Tensor): Tensor {
  const out = engine.empty([]);
  engine.commandEncoder().copyBufferToBuffer(t.buffer, 0, out.buffer, 0, 4);
  t.dispose();
  return out;
}
