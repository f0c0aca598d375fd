import assert from "node:assert/strict";
import { Engine, negExp } from "@vmunet/tensor";
import { relMaxErr, seeded } from "./_test_util.ts";

const engine = await Engine.create();

Deno.test("negExp() is −exp(x) with gradient −exp(x)·g (vec4 and scalar sizes)", async () => {
  for (const shape of [[3, 4], [5, 3]]) {
    const n = shape[0] * shape[1];
    const xs = seeded(n, 1, -3, 2), gs = seeded(n, 2);
    await engine.scope(async () => {
      const x = engine.tensor(xs, shape, { requiresGrad: true });
      const y = negExp(x);
      y.backward(engine.tensor(gs, shape));
      const want = xs.map((v) => -Math.exp(v));
      assert(relMaxErr(await y.read(), want) < 1e-6, `[${shape}] forward`);
      assert(
        relMaxErr(await x.grad!.read(), want.map((v, i) => v * gs[i])) < 1e-6,
        `[${shape}] ∂x`,
      );
    });
  }
});

Deno.test("negExp tests release the engine", () => {
  engine.destroy();
});
