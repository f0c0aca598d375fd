/**
 * The tolerances of the golden fixtures (docs/golden.md), as comparisons that
 * return the measured error beside the bound.
 *
 * @module
 */

/** One compared tensor: its name, the error measured, the bound, and whether it held. */
export interface Comparison {
  /** Tensor name, e.g. `out` or `grad.u`. */
  name: string;
  /** How the error is measured: `max-abs`, `rel-l2`, `rel` or `exact`. */
  measure: "max-abs" | "rel-l2" | "rel" | "exact";
  /** The measured error. */
  error: number;
  /** The bound it must not exceed. */
  bound: number;
  /** Whether `error <= bound` (false for NaN or shape mismatches). */
  ok: boolean;
}

function checkLength(name: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) {
    throw new Error(`${name}: got ${a.length} values, the fixture has ${b.length}`);
  }
}

/** Forward outputs: max |a−b| ≤ 1e-4·max(1, max|b|). */
export function compareForward(
  name: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
): Comparison {
  checkLength(name, got, want);
  let maxErr = 0;
  let maxRef = 0;
  let finite = true;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    if (!Number.isFinite(got[i])) finite = false;
    if (e > maxErr) maxErr = e;
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  const bound = 1e-4 * Math.max(1, maxRef);
  return {
    name,
    measure: "max-abs",
    error: finite ? maxErr : NaN,
    bound,
    ok: finite && maxErr <= bound,
  };
}

/** Gradients: ‖a−b‖₂ ≤ 1e-3·‖b‖₂. */
export function compareGradient(
  name: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
): Comparison {
  checkLength(name, got, want);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < want.length; i++) {
    const d = got[i] - want[i];
    diff += d * d;
    ref += want[i] * want[i];
  }
  const norm = Math.sqrt(ref);
  const error = norm > 0 ? Math.sqrt(diff) / norm : Math.sqrt(diff);
  const bound = 1e-3;
  return { name, measure: "rel-l2", error, bound, ok: error <= bound };
}

/** Scalars such as the loss: |a−b| ≤ rel·|b|. */
export function compareScalar(name: string, got: number, want: number, rel = 1e-5): Comparison {
  const error = Math.abs(got - want) / Math.max(Math.abs(want), 1e-30);
  return { name, measure: "rel", error, bound: rel, ok: error <= rel };
}

/** Exact equality (counts), or |a−b| ≤ bound for ratios. */
export function compareExact(name: string, got: number, want: number, bound = 0): Comparison {
  const error = Math.abs(got - want);
  return { name, measure: bound === 0 ? "exact" : "max-abs", error, bound, ok: error <= bound };
}
