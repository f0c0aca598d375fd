/**
 * `A = −exp(A_logs)` (SPEC §2) as one differentiable op: one dispatch forward and one
 * backward (`∂A_logs = ∂A·A`) instead of `neg(exp(·))`'s two and three.
 *
 * @module
 */

import { defineOp, grid1d, type Tensor } from "@vmunet/tensor";

const WG = 64;

function dispatchMap(x: Tensor, other: Tensor | null, expr: string, op: string): Tensor {
  const engine = x.engine;
  const v = x.size % 4 === 0 ? 4 : 1;
  const T = v === 4 ? "vec4<f32>" : "f32";
  const key = `ss2d.neg_exp.${other ? "bwd" : "fwd"}.${v}`;
  const kernel = engine.kernel(() => ({
    key,
    bindings: [
      { name: "a", type: `array<${T}>` },
      ...(other ? [{ name: "b", type: `array<${T}>` }] : []),
      { name: "y", access: "read_write" as const, type: `array<${T}>` },
    ],
    code: /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  if (i >= pu(0u)) { return; }
  y[i] = ${expr};
}`,
  }), key);
  const y = engine.empty(x.shape);
  const n = x.size / v;
  if (n > 0) {
    engine.dispatch({
      kernel,
      bindings: other ? [x, other, y] : [x, y],
      params: [n],
      workgroups: grid1d(n, WG),
      op,
    });
  }
  return y;
}

const negExpOp = defineOp<undefined>({
  name: "negExp",
  forward(_engine, [x]) {
    return { outputs: [dispatchMap(x, null, "-exp(a[i])", "negExp")] };
  },
  backward({ gradOutputs: [g], outputs: [y] }) {
    return [g ? dispatchMap(g, y, "a[i] * b[i]", "negExp.backward") : null];
  },
});

/**
 * `−exp(x)` element-wise, differentiable.
 *
 * @param x Input (f32).
 * @returns `−exp(x)`.
 */
export function negExp(x: Tensor): Tensor {
  return negExpOp([x], undefined)[0];
}
