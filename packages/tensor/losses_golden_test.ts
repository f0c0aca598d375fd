import assert from "node:assert/strict";
import { goldenFiles } from "../../tools/golden/dirs.ts";
import { Engine } from "./engine.ts";
import { bceDiceLoss, ceDiceLoss } from "./losses.ts";
import { bceDiceRef, ceDiceRef } from "./reference/nn_losses.ts";
import { readSafetensors } from "./fs.ts";

// The golden model cases (official PyTorch VM-UNet, float32) hold the model's output and the
// official loss: BceDiceLoss(1, 1) on the probabilities for one class, CeDiceLoss(nc, [1, 1])
// on the logits otherwise. Every `*.case.safetensors` in testdata/golden and in each folder of
// $GOLDEN_DIR is checked; the kind comes from the target's dtype (float mask or integer
// labels), never from the file name.
Deno.test({
  name: "losses reproduce the official loss of every golden model case (relative 1e-5)",
  async fn() {
    const cases = await goldenFiles((name) => name.endsWith(".case.safetensors"));
    const engine = await Engine.create();
    try {
      for (const path of cases) {
        const f = await readSafetensors(path);
        const want = f.float64("loss")[0];
        const target = f.get("target");
        let got: number, ref: number;
        if (target.dtype === "I32") {
          const logits = f.get("logits");
          const [B, nc] = logits.shape;
          const z = f.float32("logits"), y = f.int32("target");
          got = await engine.scope(() =>
            engine.item(
              ceDiceLoss(
                engine.tensor(z, logits.shape),
                engine.tensor(y, target.shape, { dtype: "i32" }),
              ),
            )
          );
          ref = ceDiceRef(z, y, B, nc, 1, 1).loss;
        } else {
          const out = f.get("output");
          const p = f.float32("output"), t = f.float32("target");
          got = await engine.scope(() =>
            engine.item(bceDiceLoss(engine.tensor(p, out.shape), engine.tensor(t, target.shape)))
          );
          ref = bceDiceRef(p, t, out.shape[0], 1, 1).loss;
        }
        assert(
          Math.abs(got - want) <= 1e-5 * Math.abs(want),
          `${path}: GPU ${got} vs official ${want}`,
        );
        assert(
          Math.abs(ref - want) <= 1e-5 * Math.abs(want),
          `${path}: float64 ${ref} vs official ${want}`,
        );
      }
    } finally {
      engine.destroy();
    }
  },
});
