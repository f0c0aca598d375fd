/**
 * What the convolutions share: the `convConfig` switch between the matmul and direct
 * implementations, the argument checks, the direct kernels' scaffolding ({@linkcode directConv}:
 * one invocation per output, params unpacked into WGSL locals, forward, ∂x and the tape), and
 * the weight/bias gradient as per-chunk partial sums plus a reduction pass (WGSL has no float
 * atomics).
 *
 * @module
 */

import type { Engine, Kernel, KernelBinding, ParamDecl, ParamValues } from "../engine.ts";
import type { Tensor } from "../tensor.ts";
import { chunksOf, expectF32, sameEngineOf, sumRows } from "../_nn_util.ts";

/**
 * Implementation of {@linkcode patchifyConv} and {@linkcode conv1x1}: `"matmul"` (default)
 * = layout change + `linear`; `"direct"` = the fused conv kernels with their own backward.
 */
export const convConfig: { variant: "matmul" | "direct" } = { variant: "matmul" };

/** Workgroup size of the one-invocation-per-output conv kernels. */
export const WG = 64;
/** Output positions per partial sum of the weight/bias gradients. */
export const POSITIONS_PER_CHUNK = 256;

/** Checks that `x`, `weight` and `bias` are f32 tensors of one engine. */
export function checkConvArgs(op: string, x: Tensor, weight: Tensor, bias: Tensor): void {
  sameEngineOf(op, x, weight, bias);
  expectF32(op, ["x", x], ["weight", weight], ["bias", bias]);
}

/**
 * A kernel with one invocation `i` per output element: `body` runs after
 * `if (i >= count) { return; }`-style checks of its own, with every declared param already
 * bound to a WGSL local of the same name.
 */
function perOutputKernel<P extends ParamDecl>(
  engine: Engine,
  key: string,
  params: P,
  bindings: readonly KernelBinding[],
  body: string,
  extra = "",
): Kernel<P> {
  return engine.kernel(key, () => ({
    params,
    bindings,
    code: /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  ${Object.keys(params).map((k) => `let ${k} = params.${k};`).join(" ")}
${body}
}
${extra}`,
  }));
}

/**
 * The weight and bias gradients of a conv from a partial-sums kernel: `kernel` writes
 * `(chunks, wCount + bCount)` partials (the weight's in the first `wCount` columns, the
 * bias's after), one invocation per partial; the chunk rows are then summed.
 *
 * @returns `[dw, db]` of `weight.shape` and `(bCount)`.
 */
export function weightBiasGrads<P extends ParamDecl>(
  engine: Engine,
  kernel: Kernel<P>,
  bindings: readonly Tensor[],
  params: ParamValues<P>,
  chunks: number,
  weight: Tensor,
  bCount: number,
  op: string,
  invocations: number = chunks * (weight.size + bCount),
): [Tensor, Tensor] {
  const wCount = weight.size;
  const cols = wCount + bCount;
  const partials = engine.empty([chunks, cols]);
  engine.dispatch({
    kernel,
    bindings: [...bindings, partials],
    params,
    workgroups: engine.grid(invocations, WG),
    op: `${op}.backward`,
  });
  const dw = engine.empty(weight.shape);
  const db = engine.empty([bCount]);
  sumRows(engine, partials, chunks, cols, 0, wCount, dw, op);
  sumRows(engine, partials, chunks, cols, wCount, bCount, db, op);
  partials.dispose();
  return [dw, db];
}

/**
 * The direct kernels of a conv, each with one invocation `i` per element it writes and every
 * param bound to a WGSL local of the same name (see {@linkcode directConv}).
 */
export interface DirectConv<P extends ParamDecl> {
  /** Op name (errors, profiles). */
  op: string;
  /** Cache-key prefix: the kernels are `${key}.fwd`, `${key}.bwd_x`, `${key}.bwd_w`. */
  key: string;
  /** The params of the three kernels (`bwd_w` adds `per` and `chunks`). */
  params: P;
  /** Their values. */
  values: ParamValues<P>;
  /** Shape of the output `y`. */
  yShape: readonly number[];
  /** Output positions (pixels or patches) that the weight gradient sums over. */
  positions: number;
  /** Forward body over bindings `x`, `w`, `bias`, `y`; with `extra` WGSL after `main`. */
  forward: { body: string; extra?: string };
  /** ∂x body over bindings `gy`, `w`, `dx` (one invocation per element of x). */
  inputGrad: { body: string; extra?: string };
  /**
   * Partial ∂weight/∂bias body over `x`, `gy`, `part`: one invocation per (chunk of `per`
   * positions, weight element | bias element), writing `part[i]`.
   */
  weightGrad: string;
}

/**
 * Records a conv through its direct kernels (see {@linkcode DirectConv}): the forward, and on
 * the tape the ∂x kernel when `x` needs a gradient, the partial-sums kernel and their
 * reduction when the weight or the bias does.
 *
 * @param x Input.
 * @param weight Weight.
 * @param bias Bias (one per output channel).
 * @param conv The kernels.
 * @returns The output.
 */
export function directConv<P extends ParamDecl>(
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  conv: DirectConv<P>,
): Tensor {
  const { op, key, params, values } = conv;
  const engine = x.engine;
  const y = engine.empty(conv.yShape);
  if (y.size > 0) {
    const kernel = perOutputKernel(
      engine,
      `${key}.fwd`,
      params,
      [{ name: "x" }, { name: "w" }, { name: "bias" }, { name: "y", access: "read_write" }],
      conv.forward.body,
      conv.forward.extra,
    );
    const workgroups = engine.grid(y.size, WG);
    engine.dispatch({ kernel, bindings: [x, weight, bias, y], params: values, workgroups, op });
  }
  engine.record(op, [x, weight, bias], [y], ([gy]) => {
    if (!gy || y.size === 0) return [null, null, null];
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = engine.empty(x.shape);
      const kernel = perOutputKernel(
        engine,
        `${key}.bwd_x`,
        params,
        [{ name: "gy" }, { name: "w" }, { name: "dx", access: "read_write" }],
        conv.inputGrad.body,
        conv.inputGrad.extra,
      );
      engine.dispatch({
        kernel,
        bindings: [gy, weight, dx],
        params: values,
        workgroups: engine.grid(x.size, WG),
        op: `${op}.backward`,
      });
    }
    if (!weight.requiresGrad && !bias.requiresGrad) return [dx, null, null];
    const { chunks, per } = chunksOf(conv.positions, POSITIONS_PER_CHUNK * 4);
    const kernel = perOutputKernel(
      engine,
      `${key}.bwd_w`,
      { ...params, per: "u32", chunks: "u32" },
      [{ name: "x" }, { name: "gy" }, { name: "part", access: "read_write" }],
      conv.weightGrad,
    );
    const cout = bias.size;
    const all = { ...values, per, chunks };
    return [dx, ...weightBiasGrads(engine, kernel, [x, gy], all, chunks, weight, cout, op)];
  });
  return y;
}
