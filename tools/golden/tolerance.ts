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

/** The differences of two arrays, in one pass: the measures both tolerances read. */
interface Differences {
  /** max |a−b| (NaN differences skipped: see `finite`). */
  maxErr: number;
  /** max |b|. */
  maxRef: number;
  /** Σ (a−b)². */
  sumSqDiff: number;
  /** Σ b². */
  sumSqRef: number;
  /** Whether every value of `got` is finite. */
  finite: boolean;
}

function differences(name: string, got: ArrayLike<number>, want: ArrayLike<number>): Differences {
  checkLength(name, got, want);
  const d: Differences = { maxErr: 0, maxRef: 0, sumSqDiff: 0, sumSqRef: 0, finite: true };
  for (let i = 0; i < want.length; i++) {
    const diff = got[i] - want[i];
    const e = Math.abs(diff);
    if (!Number.isFinite(got[i])) d.finite = false;
    if (e > d.maxErr) d.maxErr = e;
    d.maxRef = Math.max(d.maxRef, Math.abs(want[i]));
    d.sumSqDiff += diff * diff;
    d.sumSqRef += want[i] * want[i];
  }
  return d;
}

/** Forward outputs: max |a−b| ≤ 1e-4·max(1, max|b|). */
export function compareForward(
  name: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
): Comparison {
  const { maxErr, maxRef, finite } = differences(name, got, want);
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
  const { sumSqDiff, sumSqRef } = differences(name, got, want);
  const norm = Math.sqrt(sumSqRef);
  const error = norm > 0 ? Math.sqrt(sumSqDiff) / norm : Math.sqrt(sumSqDiff);
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
