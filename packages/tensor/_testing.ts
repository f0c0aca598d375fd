/**
 * Test helpers (not exported by the package): seeded data (the shared `tools/testing.ts`
 * plus Philox normals) and an op checker that compares
 * a GPU op's forward with a float64 reference and its backward with finite differences of
 * that reference.
 *
 * @module
 */

import type { Engine } from "./engine.ts";
import type { Tensor } from "./tensor.ts";
import { finiteDifferenceGrads, type Nd } from "./reference/ndarray.ts";
import { randomNormal } from "./rng.ts";
import { assertClose, seeded } from "../../tools/testing.ts";
import { mul, mulScalar, sub } from "./ops/elementwise.ts";
import { mean } from "./ops/reduce.ts";
import { assign } from "./ops/layout.ts";

export { assertClose, seeded } from "../../tools/testing.ts";

/** Deterministic standard-normal test data (float64) from the Philox stream `stream`. */
export function normals(n: number, stream: number, scale = 1, seed = 1234): Float64Array {
  const z = randomNormal(seed, stream, n);
  for (let i = 0; i < n; i++) z[i] *= scale;
  return z;
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

/**
 * Fits `params` by `steps` plain gradient-descent steps (`p ← p − lr·∂L/∂p`) on the mean
 * squared error of `predict()` against `target`, each step in one scope; throws unless the
 * engine's live bytes stay the same from step 2 on. Returns the first and the last loss.
 */
export async function fitSquaredError(
  engine: Engine,
  params: readonly Tensor[],
  predict: () => Tensor,
  target: Tensor,
  lr: number,
  steps = 50,
): Promise<{ first: number; last: number }> {
  let liveAt2 = 0, first = 0, last = 0;
  for (let step = 1; step <= steps; step++) {
    const loss = engine.scope(() => {
      const err = sub(predict(), target);
      const l = mean(mul(err, err));
      l.backward();
      engine.noGrad(() => {
        for (const p of params) {
          assign(p, sub(p, mulScalar(p.grad!, lr)));
          p.grad!.dispose();
          p.grad = null;
        }
      });
      return l;
    });
    if (step === 1) first = await engine.item(loss);
    if (step === steps) last = await engine.item(loss);
    loss.dispose();
    if (step === 2) liveAt2 = engine.stats().liveBytes;
  }
  if (engine.stats().liveBytes !== liveAt2) {
    throw new Error(`live bytes ${engine.stats().liveBytes} after ${steps} steps, ${liveAt2} at 2`);
  }
  return { first, last };
}
