import { AdamW, Engine, requestGpu } from "@vmunet/tensor";
import { readSafetensors } from "@vmunet/tensor/fs";
import { configFromMetadata, VMUNet } from "@vmunet/vmunet";

const counts = new Map<string, number>();
for (const name of ["vmunet_t16_bin", "vmunet_t16_mc9"]) {
  for (const adapterClass of ["cpu", "gpu"] as const) {
    const gpu = await requestGpu();
    const dev = gpu.device;
    const bglCount = new WeakMap<object, number>();
    const plCount = new WeakMap<object, number>();
    const obgl = dev.createBindGroupLayout.bind(dev);
    dev.createBindGroupLayout = (d: GPUBindGroupLayoutDescriptor) => {
      const l = obgl(d);
      bglCount.set(l, [...d.entries].filter((e) => e.buffer && e.buffer.type !== "uniform").length);
      return l;
    };
    const opl = dev.createPipelineLayout.bind(dev);
    dev.createPipelineLayout = (d: GPUPipelineLayoutDescriptor) => {
      const l = opl(d);
      plCount.set(l, [...d.bindGroupLayouts].reduce((a, b) => a + (bglCount.get(b!) ?? 0), 0));
      return l;
    };
    const ocp = dev.createComputePipeline.bind(dev);
    dev.createComputePipeline = (d: GPUComputePipelineDescriptor) => {
      const n = d.layout === "auto" ? -1 : plCount.get(d.layout) ?? -2;
      const label = (d.label ?? "?").replace(/[0-9]+/g, "#");
      counts.set(label, Math.max(counts.get(label) ?? 0, n));
      return ocp(d);
    };
    const dir = "../shared/golden";
    const weights = await readSafetensors(`${dir}/${name}.weights.safetensors`);
    const kase = await readSafetensors(`${dir}/${name}.case.safetensors`);
    const config = { ...configFromMetadata(weights.metadata), dropPathRate: 0 };
    const engine = await Engine.create(gpu, { adapterClass });
    const model = VMUNet.create(engine, config, { seed: 0 });
    model.loadStateDict(weights.tensors, { strict: true });
    const input = engine.tensor(kase.float32("input"), kase.get("input").shape);
    const target = config.numClasses === 1
      ? engine.tensor(kase.float32("target"), kase.get("target").shape)
      : engine.tensor(kase.int32("target"), kase.get("target").shape, { dtype: "i32" });
    const opt = new AdamW([...model.parameters.values()], { lr: 1e-3, maxGradNorm: 1 });
    engine.scope(() => {
      const { output } = model.forward(input, { training: true });
      model.loss(output, target).backward();
    });
    opt.step();
    engine.scope(() => engine.noGrad(() => model.forward(input, { training: false }).logits));
    await engine.sync();
    gpu.throwIfFailed();
    await engine.close();
  }
}
const rows = [...counts].sort((a, b) => b[1] - a[1]);
for (const [k, n] of rows) console.log(String(n).padStart(3), k);
