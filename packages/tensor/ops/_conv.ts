/**
 * What the convolutions share: the `convConfig` switch between the matmul and direct
 * implementations, the argument checks, one-invocation-per-output kernels whose params are
 * unpacked into WGSL locals, and the weight/bias gradient as per-chunk partial sums plus a
 * reduction pass (WGSL has no float atomics).
 *
 * @module
 */

import type { Engine, Kernel, KernelBinding, ParamDecl, ParamValues } from "../engine.ts";
import type { Tensor } from "../tensor.ts";
import { expectF32, sameEngineOf, sumRows } from "../_nn_util.ts";

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
 *
 * @param engine The engine.
 * @param key Cache key.
 * @param params The params declaration.
 * @param bindings Storage bindings.
 * @param body WGSL statements (the invocation index is `i`).
 * @param extra WGSL after `main` (helper functions).
 * @returns The kernel.
 */
export function perOutputKernel<P extends ParamDecl>(
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
 * Records `kernel` over `n` invocations (one per output element).
 *
 * @param engine The engine.
 * @param kernel From {@linkcode perOutputKernel}.
 * @param bindings Its buffers.
 * @param params Its params.
 * @param n Invocations.
 * @param op Op named in errors.
 */
export function runPerOutput<P extends ParamDecl>(
  engine: Engine,
  kernel: Kernel<P>,
  bindings: readonly Tensor[],
  params: ParamValues<P>,
  n: number,
  op: string,
): void {
  engine.dispatch({ kernel, bindings, params, workgroups: engine.grid(n, WG), op });
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
  return [dw, db];
}

/**
 * Records a conv's backward: when `x` needs a gradient, `input(gy, dx)` fills a new `dx`;
 * when the weight or the bias does, `params(gy)` returns `[dw, db]`.
 *
 * @param op Op name.
 * @param inputs `[x, weight, bias]`.
 * @param y The conv's output.
 * @param input Encodes ∂x into `dx`.
 * @param params Encodes ∂weight and ∂bias.
 */
export function recordConvBackward(
  op: string,
  [x, weight, bias]: readonly [Tensor, Tensor, Tensor],
  y: Tensor,
  input: (gy: Tensor, dx: Tensor) => void,
  params: (gy: Tensor) => [Tensor, Tensor],
): void {
  const engine = x.engine;
  engine.record(op, [x, weight, bias], [y], ([gy]) => {
    if (!gy || y.size === 0) return [null, null, null];
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = engine.empty(x.shape);
      input(gy, dx);
    }
    const [dw, db] = weight.requiresGrad || bias.requiresGrad ? params(gy) : [null, null];
    return [dx, dw, db];
  });
}
