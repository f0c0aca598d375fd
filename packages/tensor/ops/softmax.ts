/**
 * Softmax and log-softmax over any axis, with fused backward kernels.
 *
 * @module
 */

import type { Engine } from "../engine.ts";
import type { Tensor } from "../tensor.ts";
import { expectDtype, normAxis } from "./_shape.ts";

const WG = 64;

/** Row geometry of `axis`: rows = outer·inner, each of `len` elements `inner` apart. */
function rows(x: Tensor, axis: number): { nRows: number; len: number; inner: number } {
  const len = x.shape[axis];
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return { nRows: x.size / Math.max(1, len), len, inner };
}

/** Params of both softmax kernels: rows, the softmax axis length and the stride past it. */
const ROW_PARAMS = { nRows: "u32", len: "u32", inner: "u32" } as const;

const ROW_PRELUDE = `
  let r = lin(gid, nwg, ${WG}u);
  let nRows = params.nRows; let len = params.len; let inner = params.inner;
  if (r >= nRows) { return; }
  let base = (r / inner) * len * inner + r % inner;`;

function forwardKernel(engine: Engine, log: boolean) {
  const key = log ? "log_softmax" : "softmax";
  return engine.kernel(key, () => ({
    params: ROW_PARAMS,
    bindings: [{ name: "x" }, { name: "y", access: "read_write" }],
    code: `
// One invocation per row (all elements of the softmax axis for one position).
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${ROW_PRELUDE}
  var m = -3.4028235e38;
  for (var j = 0u; j < len; j++) { m = max(m, x[base + j * inner]); }
  var s = 0.0;
  for (var j = 0u; j < len; j++) { s += exp(x[base + j * inner] - m); }
  ${
      log
        ? "let ls = log(s); for (var j = 0u; j < len; j++) { let k = base + j * inner; y[k] = x[k] - m - ls; }"
        : "let inv = 1.0 / s; for (var j = 0u; j < len; j++) { let k = base + j * inner; y[k] = exp(x[k] - m) * inv; }"
    }
}`,
  }));
}

function backwardKernel(engine: Engine, log: boolean) {
  const key = log ? "log_softmax.backward" : "softmax.backward";
  return engine.kernel(key, () => ({
    params: ROW_PARAMS,
    bindings: [{ name: "y" }, { name: "g" }, { name: "dx", access: "read_write" }],
    code: `
// softmax: dx = y·(g − Σ g·y); log-softmax: dx = g − exp(y)·Σ g. One invocation per row.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  ${ROW_PRELUDE}
  var s = 0.0;
  for (var j = 0u; j < len; j++) { let k = base + j * inner; s += ${log ? "g[k]" : "g[k] * y[k]"}; }
  for (var j = 0u; j < len; j++) {
    let k = base + j * inner;
    dx[k] = ${log ? "g[k] - exp(y[k]) * s" : "y[k] * (g[k] - s)"};
  }
}`,
  }));
}

function softmaxOp(x: Tensor, axis: number, log: boolean): Tensor {
  const op = log ? "logSoftmax" : "softmax";
  x.storageFor(op);
  expectDtype(op, "f32", x);
  const ax = normAxis(op, axis, x.rank);
  const engine = x.engine;
  const y = engine.empty(x.shape);
  const geo = rows(x, ax);
  const params = geo;
  if (x.size > 0) {
    engine.dispatch({
      kernel: forwardKernel(engine, log),
      bindings: [x, y],
      params,
      workgroups: engine.grid(geo.nRows, WG),
      op,
    });
  }
  engine.record(op, [x], [y], ([g]) => {
    const dx = engine.empty(x.shape);
    engine.dispatch({
      kernel: backwardKernel(engine, log),
      bindings: [y, g!, dx],
      params,
      workgroups: engine.grid(geo.nRows, WG),
      op: `${op}.backward`,
    });
    return [dx];
  });
  return y;
}

/**
 * Softmax over `axis`, like `torch.softmax(x, dim)` (max-subtracted, stable).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, softmax } from "@vmunet/tensor";
 * const e = await Engine.create();
 * const p = await softmax(e.tensor([0, Math.log(3)], [1, 2]), -1).read();
 * assert.ok(Math.abs(p[0] - 0.25) < 1e-6 && Math.abs(p[1] - 0.75) < 1e-6);
 * e.destroy();
 * ```
 *
 * @param x Input (f32).
 * @param axis The axis (negative counts from the end).
 * @returns Probabilities summing to 1 along `axis`.
 * @throws {ShapeError} for an axis out of range.
 */
export function softmax(x: Tensor, axis: number): Tensor {
  return softmaxOp(x, axis, false);
}

/**
 * Log-softmax over `axis`, like `torch.log_softmax(x, dim)`.
 *
 * @param x Input (f32).
 * @param axis The axis.
 * @returns `x − logsumexp(x)` along `axis`.
 */
export function logSoftmax(x: Tensor, axis: number): Tensor {
  return softmaxOp(x, axis, true);
}
