import assert from "node:assert/strict";
import { KernelParamError, ParamLayout, PARAMS_WORDS } from "./mod.ts";

Deno.test("ParamLayout.wgsl(): the struct, bound as read-only storage at 0 unless told", () => {
  const layout = new ParamLayout({ n: "u32", scale: "f32", pick: ["i32", 3] }, "t.k");
  assert.equal(
    layout.wgsl(),
    "struct Params {\n  n: u32,\n  scale: f32,\n  pick: array<i32, 3>,\n}\n" +
      "@group(0) @binding(0) var<storage, read> params: Params;\n",
  );
  assert.equal(
    new ParamLayout({}, "t.empty").wgsl(),
    "struct Params {\n  _unused: u32,\n}\n@group(0) @binding(0) var<storage, read> params: Params;\n",
  );
  assert.equal(
    new ParamLayout({ k: "u32" }, "t.u").wgsl({ binding: 9, space: "uniform" }),
    "struct Params {\n  k: u32,\n}\n@group(0) @binding(9) var<uniform> params: Params;\n",
  );
  assert.throws(
    () => layout.wgsl({ space: "uniform" }),
    (e) => e instanceof KernelParamError && e.kernel === "t.k" && e.param === "pick",
  );
});

Deno.test("ParamLayout.pack(): one word per scalar or element, typed, zero-padded", () => {
  const layout = new ParamLayout({ n: "u32", s: "f32", o: "i32", a: ["u32", 3] }, "t.pack");
  assert.equal(layout.words, 6);
  const w = layout.pack({ n: 7, s: -0.25, o: -3, a: [4, 5] });
  assert.deepEqual([w[0], new Float32Array(w.buffer)[1], new Int32Array(w.buffer)[2]], [
    7,
    -0.25,
    -3,
  ]);
  assert.deepEqual([...w.subarray(3)], [4, 5, 0]);
});

Deno.test("bad declarations and values raise KernelParamError naming the kernel and the param", () => {
  const check = (f: () => unknown, kernel: string, param: string | undefined, re: RegExp) =>
    assert.throws(f, (e) => {
      assert(e instanceof KernelParamError, String(e));
      assert.equal(e.kernel, kernel);
      assert.equal(e.param, param);
      assert.match(e.message, re);
      assert(e.message.startsWith(`${kernel}: `), e.message);
      return true;
    });
  check(() => new ParamLayout({ "1x": "u32" }, "t.name"), "t.name", "1x", /not a WGSL identifier/);
  check(
    () => new ParamLayout({ a: ["u32", PARAMS_WORDS], b: "u32" }, "t.big"),
    "t.big",
    undefined,
    new RegExp(`${PARAMS_WORDS + 1} words exceed ${PARAMS_WORDS}`),
  );
  const layout = new ParamLayout({ n: "u32", a: ["f32", 2] }, "t.values");
  check(() => layout.pack({ a: [] }), "t.values", "n", /missing kernel param "n"/);
  check(() => layout.pack({ n: 1, a: [1, 2, 3] }, "op"), "op", "a", /"a" takes at most 2/);
  check(() => layout.pack({ n: [1], a: [] }), "t.values", "n", /"n" takes a number/);
  check(() => layout.pack({ n: 1, a: [], extra: 2 }), "t.values", "extra", /unknown kernel param/);
});

Deno.test("a uniform declared by ParamLayout reads the packed words on the device", async () => {
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter!.requestDevice();
  try {
    const params = new ParamLayout({ k: "u32", scale: "f32" }, "t.uniform");
    const module = device.createShaderModule({
      code: params.wgsl({ binding: 1, space: "uniform" }) +
        `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(1) fn main() { y[params.k] = params.scale; }`,
    });
    const pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    const uniform = device.createBuffer({
      size: 512,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    // Two dispatches from two 256-byte slots of one buffer.
    device.queue.writeBuffer(uniform, 0, params.pack({ k: 1, scale: 2.5 }));
    device.queue.writeBuffer(uniform, 256, params.pack({ k: 3, scale: -4 }));
    const y = device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    });
    const read = device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    for (const offset of [0, 256]) {
      pass.setBindGroup(
        0,
        device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: y } },
            { binding: 1, resource: { buffer: uniform, offset, size: 16 } },
          ],
        }),
      );
      pass.dispatchWorkgroups(1);
    }
    pass.end();
    encoder.copyBufferToBuffer(y, 0, read, 0, 16);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    assert.deepEqual([...new Float32Array(read.getMappedRange())], [0, 2.5, 0, -4]);
  } finally {
    device.destroy();
  }
});
