/**
 * Test helpers (not exported by the package): seeded data and an op checker that compares
 * a GPU op's forward with a float64 reference and its backward with finite differences of
 * that reference.
 *
 * @module
 */

import type { Engine } from "./engine.ts";
import type { Tensor } from "./tensor.ts";
import { finiteDifferenceGrads, type Nd } from "./reference/ndarray.ts";

/** Seeded uniform values in [lo, hi) (mulberry32). */
export function seeded(count: number, seed: number, lo = -1, hi = 1): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}

/** Largest |a − b| / (atol + rtol·|b|) over the elements; ≤ 1 means within tolerance. */
export function maxViolation(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  atol: number,
  rtol: number,
): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(v <= worst)) worst = Number.isNaN(v) ? Infinity : v;
  }
  return worst;
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
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= atol + rtol * Math.abs(expected[i]))) {
      throw new Error(
        `${what}: element ${i} is ${actual[i]}, expected ${
          expected[i]
        } (|diff| ${diff} > ${atol} + ${rtol}·|expected|)`,
      );
    }
  }
}

/** What {@linkcode checkOp} compares. */
export interface OpCheck {
  /** Name in failure messages. */
  name: string;
  /** Inputs (float64 reference arrays; uploaded as f32 tensors that require grad). */
  inputs: Nd[];
  /** The GPU op. */
  gpu: (ts: Tensor[]) => Tensor;
  /** The float64 reference. */
  ref: (xs: Nd[]) => Nd;
  /** Forward tolerance (absolute, relative); default 1e-5, 1e-5. */
  fwd?: [number, number];
  /** Gradient tolerance (absolute, relative); default 2e-4, 2e-3. */
  grad?: [number, number];
  /** Skip the gradient check for these input indices. */
  noGrad?: number[];
  /** Seed of the output weights. */
  seed?: number;
}

/**
 * Runs the op on the GPU and the reference, compares outputs, then back-propagates seeded
 * output weights `w` and compares each input's gradient with the finite-difference
 * gradient of `Σ w ⊙ ref(inputs)` (float64).
 */
export async function checkOp(engine: Engine, c: OpCheck): Promise<void> {
  const [fa, fr] = c.fwd ?? [1e-5, 1e-5];
  const [ga, gr] = c.grad ?? [2e-4, 2e-3];
  // Round inputs to f32 so the reference sees exactly what the GPU sees.
  const inputs = c.inputs.map((x) => ({
    shape: x.shape,
    data: Float64Array.from(Float32Array.from(x.data)),
  }));
  await engine.scope(async () => {
    const ts = inputs.map((x, i) =>
      engine.tensor(Float32Array.from(x.data), x.shape, {
        requiresGrad: !(c.noGrad ?? []).includes(i),
      })
    );
    const y = c.gpu(ts);
    const expected = c.ref(inputs);
    if (y.shape.join() !== expected.shape.join()) {
      throw new Error(`${c.name}: GPU shape [${y.shape}] vs reference [${expected.shape}]`);
    }
    assertClose(await y.read(), expected.data, fa, fr, `${c.name} forward`);
    if (ts.every((_, i) => (c.noGrad ?? []).includes(i))) return;
    const w = seeded(y.size, c.seed ?? 7);
    y.backward(engine.tensor(Float32Array.from(w), y.shape));
    const fd = finiteDifferenceGrads(c.ref, inputs, w);
    for (let i = 0; i < ts.length; i++) {
      if ((c.noGrad ?? []).includes(i)) continue;
      const g = ts[i].grad;
      if (!g) throw new Error(`${c.name}: input ${i} got no gradient`);
      assertClose(await g.read(), fd[i], ga, gr, `${c.name} gradient of input ${i}`);
    }
    for (const t of ts) t.grad?.dispose();
  });
}
