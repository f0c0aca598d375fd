/**
 * Timing helpers shared by the tensor benchmarks: GPU wall-clock over many dispatches and
 * one `onSubmittedWorkDone`, and the plain-JS matmul baseline.
 *
 * @module
 */

import process from "node:process";
import type { Engine } from "../engine.ts";

/** CPU milliseconds used by this process so far (all threads: lavapipe's workers too). */
export function cpuMillis(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Wall-clock and process-CPU milliseconds of one call. */
export interface Timing {
  /** Wall-clock milliseconds per call. */
  wall: number;
  /** Process CPU milliseconds per call (all threads). */
  cpu: number;
}

/**
 * Time per call of `body` on the GPU: warm-up, then `reps` rounds of `iterations` calls
 * recorded and submitted together with one wait each (`iterations` grows until a round
 * lasts ≥ 100 ms); the fastest round counts (the machine is shared, so the minimum is the
 * least noisy estimate). CPU time is that of the same round, all threads of the process.
 */
export async function gpuTiming(
  engine: Engine,
  body: () => void,
  iterations: number,
  reps = 3,
): Promise<Timing> {
  body();
  await engine.sync();
  // Grow the round until it lasts ≥ 100 ms, so the one sync per round stays negligible.
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) body();
    await engine.sync();
    if (performance.now() - t0 >= 100 || iterations >= 2048) break;
    iterations *= 4;
  }
  let best: Timing = { wall: Infinity, cpu: Infinity };
  for (let r = 0; r < reps; r++) {
    const c0 = cpuMillis(), t0 = performance.now();
    for (let i = 0; i < iterations; i++) body();
    await engine.sync();
    const wall = (performance.now() - t0) / iterations, cpu = (cpuMillis() - c0) / iterations;
    if (wall < best.wall) best = { wall, cpu };
  }
  return best;
}

/** Plain JS matmul (i-k-j loop order over Float32Arrays): the baseline. */
export function jsMatmul(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  m: number,
  n: number,
  k: number,
): void {
  c.fill(0);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p];
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j] += av * b[bp + j];
    }
  }
}

/** Time per plain-JS matmul (fastest of `reps` runs after a warm-up). */
export function jsMatmulTiming(m: number, n: number, k: number, reps = 3): Timing {
  const a = new Float32Array(m * k).map(() => Math.random());
  const b = new Float32Array(k * n).map(() => Math.random());
  const c = new Float32Array(m * n);
  jsMatmul(a, b, c, m, n, k);
  let best: Timing = { wall: Infinity, cpu: Infinity };
  for (let r = 0; r < reps; r++) {
    const c0 = cpuMillis(), t0 = performance.now();
    jsMatmul(a, b, c, m, n, k);
    const wall = performance.now() - t0, cpu = cpuMillis() - c0;
    if (wall < best.wall) best = { wall, cpu };
  }
  return best;
}
