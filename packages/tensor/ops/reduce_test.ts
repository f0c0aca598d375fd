import { Engine } from "../engine.ts";
import { checkOp, seeded } from "../_testing.ts";
import * as R from "../reference/ndarray.ts";
import { mean, sum } from "./reduce.ts";

const engine = await Engine.create();
const rand = (shape: number[], seed: number) => R.nd(seeded(R.size(shape), seed), shape);

Deno.test("sum() and mean() over axes match the reference, with keepdim, odd sizes and long rows", async () => {
  const cases: [number[], number[] | undefined, boolean][] = [
    [[3, 5, 7], [1], false],
    [[3, 5, 7], [0, 2], true],
    [[2, 3, 4, 5], [-1, 1], false],
    [[4, 1, 6], [0], false],
    [[5, 7], undefined, false],
    [[3, 5000], [1], false], // long reductions take the two-pass path
    [[4100, 3], [0], true],
  ];
  let seed = 20;
  for (const [shape, axes, keepdim] of cases) {
    const all = axes ?? shape.map((_, i) => i);
    const count = all.reduce((a, ax) => a * shape[ax < 0 ? ax + shape.length : ax], 1);
    const big = R.size(shape) > 1000;
    await checkOp(engine, {
      name: `sum ${JSON.stringify(shape)} axes ${JSON.stringify(axes)}`,
      inputs: [rand(shape, seed++)],
      gpu: ([x]) => sum(x, axes, { keepdim }),
      ref: ([x]) => R.sum(x, all, keepdim),
      fwd: [1e-4, 1e-5],
      noGrad: big ? [0] : [],
    });
    await checkOp(engine, {
      name: `mean ${JSON.stringify(shape)} axes ${JSON.stringify(axes)}`,
      inputs: [rand(shape, seed++)],
      gpu: ([x]) => mean(x, axes, { keepdim }),
      ref: ([x]) => R.unary(R.sum(x, all, keepdim), (v) => v / count),
      fwd: [1e-6, 1e-5],
      noGrad: big ? [0] : [],
    });
  }
});
