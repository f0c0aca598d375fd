import { AdamW, Engine, requestGpu } from "@vmunet/tensor";
import { preset, VMUNet } from "@vmunet/vmunet";
const gpu = await requestGpu();
for (const adapterClass of ["auto", "gpu"] as const) {
  for (const numClasses of [1, 3]) {
    const t0 = performance.now();
    const engine = await Engine.create(gpu, { adapterClass });
    const model = VMUNet.create(engine, preset("vmunet-t", { dims: 8, numClasses }), { seed: 1 });
    const t1 = performance.now();
    const opt = new AdamW([...model.parameters.values()], { lr: 1e-3, maxGradNorm: 1 });
    engine.scope(() => {
      const input = engine.full([1, 3, 32, 32], 0.5);
      const target = numClasses === 1 ? engine.zeros([1, 1, 32, 32]) : engine.zeros([1, 32, 32], { dtype: "i32" });
      const { output } = model.forward(input, { training: true });
      model.loss(output, target).backward();
    });
    await engine.sync();
    const t2 = performance.now();
    opt.step();
    await engine.sync();
    const t3 = performance.now();
    engine.scope(() => engine.noGrad(() => model.forward(engine.zeros([1, 3, 32, 32]), {})));
    await engine.sync();
    const t4 = performance.now();
    console.log(adapterClass, numClasses, (t1 - t0).toFixed(0), (t2 - t1).toFixed(0), (t3 - t2).toFixed(0), (t4 - t3).toFixed(0));
  }
}
