/**
 * Element-wise ops with NumPy broadcasting and their backward: arithmetic, unary math,
 * scalar ops and activations.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { broadcastKernel, mapKernel, SILU_GRAD_EXPR } from "./_kernels.ts";
import { broadcastShapes, broadcastStrides, expectDtype, sameEngine, sameShape } from "./_shape.ts";
import { sumToShape } from "./_sum.ts";

function binary(
  op: string,
  expr: string,
  a: Tensor,
  b: Tensor,
  backward: (g: Tensor) => [Tensor | null, Tensor | null],
): Tensor {
  sameEngine(op, a, b);
  a.storageFor(op);
  b.storageFor(op);
  expectDtype(op, "f32", a, b);
  const engine = a.engine;
  const shape = broadcastShapes(op, a.shape, b.shape);
  const y = sameShape(a.shape, b.shape) ? mapKernel(engine, op, expr, [a, b]) : broadcastKernel(
    engine,
    op,
    expr,
    a,
    b,
    shape,
    broadcastStrides(a.shape, shape),
    broadcastStrides(b.shape, shape),
  );
  engine.record(op, [a, b], [y], ([g]) => {
    const [ga, gb] = backward(g!);
    return [
      ga && a.requiresGrad ? sumToShape(ga, a.shape) : null,
      gb && b.requiresGrad ? sumToShape(gb, b.shape) : null,
    ];
  });
  return y;
}

/**
 * `a + b` with broadcasting.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { add, Engine } from "@vmunet/tensor";
 * const e = await Engine.create();
 * const y = await add(e.tensor([1, 2], [2, 1]), e.tensor([10, 20, 30], [3])).read(); // (2,1) + (3) → (2,3)
 * assert.deepEqual(Array.from(y), [11, 21, 31, 12, 22, 32]);
 * // Float32Array [11, 21, 31, 12, 22, 32]
 * e.destroy();
 * ```
 *
 * @param a Left operand (f32).
 * @param b Right operand (f32).
 * @returns The broadcast sum.
 * @throws {ShapeError} when the shapes do not broadcast.
 * @throws {DtypeError} for non-f32 operands.
 */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary("add", "a + b", a, b, (g) => [g, g]);
}

/**
 * `a - b` with broadcasting.
 *
 * @param a Left operand.
 * @param b Right operand.
 * @returns The broadcast difference.
 */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binary("sub", "a - b", a, b, (g) => [g, b.requiresGrad ? neg(g) : null]);
}

/**
 * `a * b` (element-wise) with broadcasting.
 *
 * @param a Left operand.
 * @param b Right operand.
 * @returns The broadcast product.
 */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary("mul", "a * b", a, b, (g) => [
    a.requiresGrad ? mul(g, b) : null,
    b.requiresGrad ? mul(g, a) : null,
  ]);
}

/**
 * `a / b` (element-wise) with broadcasting.
 *
 * @param a Numerator.
 * @param b Denominator.
 * @returns The broadcast quotient.
 */
export function div(a: Tensor, b: Tensor): Tensor {
  return binary("div", "a / b", a, b, (g) => {
    const ga = a.requiresGrad ? div(g, b) : null;
    // ∂(a/b)/∂b = −a/b²
    const gb = b.requiresGrad ? neg(mul(g, div(div(a, b), b))) : null;
    return [ga, gb];
  });
}

function unary(
  op: string,
  expr: string,
  x: Tensor,
  scalars: readonly number[],
  backward: (g: Tensor, y: Tensor) => Tensor,
): Tensor {
  x.storageFor(op);
  expectDtype(op, "f32", x);
  const y = mapKernel(x.engine, op, expr, [x], scalars);
  x.engine.record(op, [x], [y], ([g]) => [backward(g!, y)]);
  return y;
}

/**
 * Fused backward expression `expr(a = saved, b = g)` over same-shape tensors (not recorded).
 */
function gradExpr(
  op: string,
  expr: string,
  saved: Tensor,
  g: Tensor,
  scalars: number[] = [],
): Tensor {
  return mapKernel(g.engine, `${op}.backward`, expr, [saved, g], scalars);
}

/** `−x`. @param x Input. @returns The negation. */
export function neg(x: Tensor): Tensor {
  return unary("neg", "-a", x, [], (g) => neg(g));
}

/** `eˣ`. @param x Input. @returns The exponential. */
export function exp(x: Tensor): Tensor {
  return unary("exp", "exp(a)", x, [], (g, y) => mul(g, y));
}

/**
 * `−eˣ` in one kernel, with a one-kernel backward (`∂x = g·y`): SS2D's `A = −exp(A_logs)`
 * without `neg(exp(·))`'s extra dispatches. @param x Input. @returns `−exp(x)`.
 */
export function negExp(x: Tensor): Tensor {
  return unary("negExp", "-exp(a)", x, [], (g, y) => gradExpr("negExp", "a * b", y, g));
}

/** Natural logarithm. @param x Input. @returns `ln x`. */
export function log(x: Tensor): Tensor {
  return unary("log", "log(a)", x, [], (g) => div(g, x));
}

/** Square root. @param x Input. @returns `√x`. */
export function sqrt(x: Tensor): Tensor {
  return unary("sqrt", "sqrt(a)", x, [], (g, y) => gradExpr("sqrt", "b * 0.5 / a", y, g));
}

/** `x + s`. @param x Input. @param s Scalar. @returns The shifted tensor. */
export function addScalar(x: Tensor, s: number): Tensor {
  return unary("addScalar", "a + s0", x, [s], (g) => g);
}

/** `x · s`. @param x Input. @param s Scalar. @returns The scaled tensor. */
export function mulScalar(x: Tensor, s: number): Tensor {
  return unary("mulScalar", "a * s0", x, [s], (g) => mulScalar(g, s));
}

/**
 * `xᵖ` for a scalar exponent, like `torch.pow(x, p)`: negative bases work for integer `p`
 * (NaN otherwise), `p = 0` gives ones.
 *
 * @param x Input.
 * @param p Exponent.
 * @returns The power.
 */
export function powScalar(x: Tensor, p: number): Tensor {
  const op = "powScalar";
  if (p === 0) return unary(op, "T(1.0) + 0.0 * a", x, [], (g) => mulScalar(g, 0));
  if (p === 1) return unary(op, "a", x, [], (g) => g);
  if (p === 2) return unary(op, "a * a", x, [], (g) => gradExpr(op, "b * 2.0 * a", x, g));
  // sign of a negative base: (−1)^p for integer p, NaN otherwise.
  const sign = Number.isInteger(p) ? (p % 2 === 0 ? 1 : -1) : NaN;
  return unary(
    op,
    "pow(abs(a), T(s0)) * select(T(1.0), T(s1), a < T(0.0))",
    x,
    [p, sign],
    (g) => mul(g, mulScalar(powScalar(x, p - 1), p)),
  );
}

/** `max(x, 0)`. @param x Input. @returns ReLU(x). */
export function relu(x: Tensor): Tensor {
  return unary(
    "relu",
    "max(a, T(0.0))",
    x,
    [],
    (g) => gradExpr("relu", "select(T(0.0), b, a > T(0.0))", x, g),
  );
}

/** Logistic sigmoid `1 / (1 + e⁻ˣ)`. @param x Input. @returns σ(x). */
export function sigmoid(x: Tensor): Tensor {
  return unary(
    "sigmoid",
    "sigmoid_(a)",
    x,
    [],
    (g, y) => gradExpr("sigmoid", "b * a * (T(1.0) - a)", y, g),
  );
}

/** SiLU `x · σ(x)` (a.k.a. swish). @param x Input. @returns SiLU(x). */
export function silu(x: Tensor): Tensor {
  return unary(
    "silu",
    "a * sigmoid_(a)",
    x,
    [],
    (g) => gradExpr("silu", SILU_GRAD_EXPR, x, g),
  );
}

/**
 * Softplus like `torch.nn.functional.softplus(x)` (beta 1, threshold 20): `x` where
 * `x > 20`, else `log(1 + eˣ)`.
 *
 * @param x Input.
 * @returns softplus(x).
 */
export function softplus(x: Tensor): Tensor {
  return unary(
    "softplus",
    "softplus_(a)",
    x,
    [],
    (g) => gradExpr("softplus", "select(b * sigmoid_(a), b, a > T(20.0))", x, g),
  );
}
