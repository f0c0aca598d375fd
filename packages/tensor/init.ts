/**
 * Parameter initialisers with PyTorch/timm semantics, drawing from the seeded
 * {@linkcode Rng} on the CPU and returning `Float32Array`s (upload them into tensors).
 *
 * VM-UNet (docs/spec.md §5): every `nn.Linear` weight gets {@linkcode initTruncNormal} with
 * std 0.02; convolutions keep PyTorch's default {@linkcode initKaimingUniform} (a = √5)
 * and {@linkcode initFanInUniform} for their bias; LayerNorm weight/bias are ones/zeros.
 * The Mamba initialisers of SS2D (`dt_projs_*`, `A_logs`, `Ds`) live in `@vmunet/vss-block`.
 *
 * @module
 */

import type { Rng } from "./rng.ts";

const SQRT2 = Math.SQRT2;
const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);

/**
 * erf(x) in float64: Taylor series for |x| < 1.5, continued fraction for erfc above.
 *
 * @param x The argument.
 * @returns erf(x).
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (Number.isNaN(x)) return NaN;
  if (ax < 1.5) {
    const x2 = x * x;
    let acc = 0;
    let fk = 25 + 0.5;
    for (let i = 0; i < 25; i++) {
      acc = 2 + (x2 * acc) / fk;
      fk -= 1;
    }
    return acc * x * Math.exp(-x2) * INV_SQRT_PI;
  }
  if (ax >= 30) return Math.sign(x);
  const x2 = ax * ax;
  let a = 0, da = 0.5, p = 1, pLast = 0, q = da + x2, qLast = 1;
  for (let i = 0; i < 50; i++) {
    a += da;
    da += 2;
    const b = da + x2;
    const tp = p;
    p = b * p - a * pLast;
    pLast = tp;
    const tq = q;
    q = b * q - a * qLast;
    qLast = tq;
  }
  const erfc = (p / q) * ax * Math.exp(-x2) * INV_SQRT_PI;
  return Math.sign(x) * (1 - erfc);
}

/**
 * Inverse of {@linkcode erf} on (−1, 1) (Giles' approximation + Newton steps), ±∞ at ±1.
 *
 * @param y The value of erf.
 * @returns x with erf(x) = y.
 */
export function erfinv(y: number): number {
  if (y <= -1) return y === -1 ? -Infinity : NaN;
  if (y >= 1) return y === 1 ? Infinity : NaN;
  let w = -Math.log((1 - y) * (1 + y));
  let p: number;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = Math.sqrt(w) - 3;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  let x = p * y;
  for (let i = 0; i < 2; i++) {
    const d = 2 * INV_SQRT_PI * Math.exp(-x * x);
    if (d < 1e-300) break;
    x -= (erf(x) - y) / d;
  }
  return x;
}

/**
 * Standard normal CDF, Φ(x) = (1 + erf(x/√2)) / 2.
 *
 * @param x The argument.
 * @returns Φ(x).
 */
export function normalCdf(x: number): number {
  return (1 + erf(x / SQRT2)) / 2;
}

function count(shape: number | readonly number[]): number {
  if (typeof shape === "number") return shape;
  return shape.reduce((a, b) => a * b, 1);
}

/** Uniforms strictly inside (0, 1) with 32 bits of resolution. */
function openUniforms(n: number, rng: Rng): Float64Array {
  const bits = rng.bits(n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (bits[i] + 0.5) * 2 ** -32;
  return out;
}

/** Options of {@linkcode initTruncNormal}. */
export interface TruncNormalOptions {
  /** Mean (default 0). */
  mean?: number;
  /** Standard deviation before truncation (default 1). */
  std?: number;
  /** Absolute lower bound (default −2, as timm). */
  a?: number;
  /** Absolute upper bound (default 2, as timm). */
  b?: number;
}

/**
 * A truncated normal as timm's `trunc_normal_`: inverse-CDF sampling between the absolute
 * bounds `a` and `b`, then a clamp. With std 0.02 and the default ±2 it is N(0, 0.02²).
 *
 * @param shape Element count or shape.
 * @param rng The generator (one stream is consumed).
 * @param options Mean, std, bounds.
 * @returns The values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initTruncNormal, Rng } from "@vmunet/tensor";
 * const w = initTruncNormal([96, 384], new Rng(42), { std: 0.02 });
 * assert.equal(w.length, 36864);
 * ```
 */
export function initTruncNormal(
  shape: number | readonly number[],
  rng: Rng,
  options: TruncNormalOptions = {},
): Float32Array {
  const { mean = 0, std = 1, a = -2, b = 2 } = options;
  if (!(std > 0) || !(a < b)) {
    throw new RangeError(`initTruncNormal: need std > 0 and a < b, got std ${std}, [${a}, ${b}]`);
  }
  const n = count(shape);
  const lo = 2 * normalCdf((a - mean) / std) - 1;
  const hi = 2 * normalCdf((b - mean) / std) - 1;
  const u = openUniforms(n, rng);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = erfinv(lo + (hi - lo) * u[i]) * std * SQRT2 + mean;
    out[i] = Math.min(b, Math.max(a, v));
  }
  return out;
}

/**
 * Uniform values in [low, high) (as `torch.nn.init.uniform_`).
 *
 * @param shape Element count or shape.
 * @param rng The generator (one stream is consumed).
 * @param low Lower bound.
 * @param high Upper bound.
 * @returns The values.
 */
export function initUniform(
  shape: number | readonly number[],
  rng: Rng,
  low: number,
  high: number,
): Float32Array {
  const n = count(shape);
  const u = openUniforms(n, rng);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = low + (high - low) * u[i];
  return out;
}

/**
 * PyTorch's fan-in of a weight: `shape[1] · prod(shape[2:])` (Linear `(out, in)`,
 * Conv2d `(out, in/groups, kh, kw)`).
 *
 * @param shape The weight shape (at least 2 dims).
 * @returns The fan-in.
 */
export function fanIn(shape: readonly number[]): number {
  if (shape.length < 2) {
    throw new RangeError(`fanIn: a weight needs at least 2 dims, got shape [${shape}]`);
  }
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

/**
 * `kaiming_uniform_(w, a)` with leaky-ReLU gain: bound = √(6 / ((1 + a²)·fan_in)); with
 * the default a = √5 (PyTorch's Linear/Conv2d default) the bound is 1/√fan_in.
 *
 * @param shape The weight shape.
 * @param rng The generator (one stream is consumed).
 * @param a Negative slope (default √5).
 * @returns The values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initKaimingUniform, Rng } from "@vmunet/tensor";
 * const w = initKaimingUniform([96, 3, 4, 4], new Rng(0)); // patch-embed conv
 * assert.ok(Math.max(...w.map(Math.abs)) <= 1 / Math.sqrt(48)); // U(±1/√fan_in)
 * ```
 */
export function initKaimingUniform(
  shape: readonly number[],
  rng: Rng,
  a: number = Math.sqrt(5),
): Float32Array {
  const bound = Math.sqrt(6 / ((1 + a * a) * fanIn(shape)));
  return initUniform(shape, rng, -bound, bound);
}

/**
 * PyTorch's default bias of Linear/Conv2d: U(±1/√fan_in) with the fan-in of the weight.
 *
 * @param weightShape Shape of the layer's weight.
 * @param rng The generator (one stream is consumed).
 * @returns `weightShape[0]` values.
 */
export function initFanInUniform(weightShape: readonly number[], rng: Rng): Float32Array {
  const bound = 1 / Math.sqrt(fanIn(weightShape));
  return initUniform(weightShape[0], rng, -bound, bound);
}

/**
 * Zeros.
 * @param shape Element count or shape.
 * @returns The values.
 */
export function initZeros(shape: number | readonly number[]): Float32Array {
  return new Float32Array(count(shape));
}

/**
 * Ones.
 * @param shape Element count or shape.
 * @returns The values.
 */
export function initOnes(shape: number | readonly number[]): Float32Array {
  return new Float32Array(count(shape)).fill(1);
}
