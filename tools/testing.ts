/**
 * Numeric helpers shared by the packages' tests (test-only, never published): the
 * mulberry32 generator and seeded arrays, tolerance checks that name the worst element,
 * error norms, sample moments, central differences, JSON test data and a temporary folder
 * per test.
 *
 * @module
 */

/** The mulberry32 generator: uniform values in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded uniform values in [lo, hi) (mulberry32). */
export function seeded(count: number, seed: number, lo = -1, hi = 1): Float64Array {
  const next = mulberry32(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = lo + (hi - lo) * next();
  return out;
}

/** Throws with the worst element when `actual` is not within tolerance of `expected`. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
  what: string,
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  }
  let worst = 0, wi = -1;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i] - expected[i]) / (atol + rtol * Math.abs(expected[i]));
    if (!(e <= worst)) {
      worst = Number.isNaN(e) ? Infinity : e;
      wi = i;
    }
  }
  if (worst > 1) {
    throw new Error(
      `${what}: element ${wi} is ${actual[wi]}, expected ${expected[wi]} (error ratio ${
        worst.toFixed(3)
      } of atol ${atol} + rtol ${rtol}·|expected|)`,
    );
  }
}

/** ‖a − b‖₂ / max(‖b‖₂, tiny). */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-30);
}

/** max |a − b| / max(1, max |b|); Infinity if a value of `a` is not finite. */
export function relMaxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} vs ${b.length}`);
  let e = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) return Infinity;
    e = Math.max(e, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return e / Math.max(1, m);
}

/** Mean, standard deviation (population), min and max of a sample. */
export function moments(
  x: ArrayLike<number>,
): { mean: number; std: number; min: number; max: number } {
  let s = 0, s2 = 0, min = Infinity, max = -Infinity;
  for (let i = 0; i < x.length; i++) {
    s += x[i];
    s2 += x[i] * x[i];
    min = Math.min(min, x[i]);
    max = Math.max(max, x[i]);
  }
  const mean = s / x.length;
  return { mean, std: Math.sqrt(s2 / x.length - mean * mean), min, max };
}

/** Runs `fn` with a fresh temporary folder (named `prefix…`) and removes the folder after. */
export async function withTempDir(
  prefix: string,
  fn: (root: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/**
 * Central difference `(f(x + h) − f(x − h)) / 2h` of `f` with respect to `values[i]`, which
 * `f` reads; `values[i]` is restored after.
 */
export function centralDifference(
  values: { [i: number]: number },
  i: number,
  h: number,
  f: () => number,
): number {
  const keep = values[i];
  values[i] = keep + h;
  const up = f();
  values[i] = keep - h;
  const down = f();
  values[i] = keep;
  return (up - down) / (2 * h);
}

/** Reads and parses a JSON file (a test's `testdata/…json`, as a URL from `import.meta.url`). */
// deno-lint-ignore no-explicit-any
export async function readJson<T = any>(url: URL): Promise<T> {
  return JSON.parse(await Deno.readTextFile(url));
}
