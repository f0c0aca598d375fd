/**
 * The Mamba initialisers of SS2D's state-space parameters (as `mamba_ssm` and the official
 * VM-UNet): `dt_projs_weight` uniform in ±dtScale·R^-0.5, `dt_projs_bias` the inverse
 * softplus of a log-uniform dt, `A_logs = ln(1..N)` (S4D-real) and `Ds = 1`.
 *
 * @module
 */

import { initOnes, initUniform, initZeros, type Rng } from "@vmunet/tensor";

/**
 * SS2D `dt_projs_weight` (K, Di, R): U(±dtScale·R^-0.5).
 *
 * @param shape `(K, Di, R)`.
 * @param rng The generator.
 * @param dtScale Scale (default 1).
 * @returns The values.
 */
export function initDtProjsWeight(
  shape: readonly number[],
  rng: Rng,
  dtScale: number = 1,
): Float32Array {
  const bound = dtScale * shape[shape.length - 1] ** -0.5;
  return initUniform(shape, rng, -bound, bound);
}

/** Options of {@linkcode initDtProjsBias}. */
export interface DtBiasOptions {
  /** Smallest dt (default 1e-3). */
  dtMin?: number;
  /** Largest dt (default 0.1). */
  dtMax?: number;
  /** Floor applied to dt (default 1e-4). */
  dtInitFloor?: number;
}

/**
 * SS2D `dt_projs_bias`: dt = exp(U·(ln dtMax − ln dtMin) + ln dtMin) clamped at the floor,
 * bias = dt + ln(−expm1(−dt)) (inverse softplus, so softplus(bias) = dt ∈ [dtMin, dtMax]).
 *
 * @param shape `(K, Di)` or a count.
 * @param rng The generator.
 * @param options dt range and floor.
 * @returns The values.
 */
export function initDtProjsBias(
  shape: number | readonly number[],
  rng: Rng,
  options: DtBiasOptions = {},
): Float32Array {
  const { dtMin = 1e-3, dtMax = 0.1, dtInitFloor = 1e-4 } = options;
  const out = initZeros(shape);
  const n = out.length;
  const u = rng.uniform(n);
  const lmin = Math.log(dtMin), span = Math.log(dtMax) - lmin;
  for (let i = 0; i < n; i++) {
    const dt = Math.max(dtInitFloor, Math.exp(u[i] * span + lmin));
    out[i] = dt + Math.log(-Math.expm1(-dt));
  }
  return out;
}

/**
 * SS2D `A_logs` (rows, N): `A_logs[r, n] = ln(n + 1)` (S4D-real; A = −(1..N)).
 *
 * @param rows `K · Di`.
 * @param dState N.
 * @returns Row-major values.
 */
export function initALogs(rows: number, dState: number): Float32Array {
  const out = new Float32Array(rows * dState);
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < dState; n++) out[r * dState + n] = Math.log(n + 1);
  }
  return out;
}

/**
 * SS2D `Ds`: ones.
 * @param rows `K · Di`.
 * @returns The values.
 */
export function initDs(rows: number): Float32Array {
  return initOnes(rows);
}
