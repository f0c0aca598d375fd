import assert from "node:assert/strict";
import { createStorageBuffer, readBuffer } from "./buffer_io.ts";
import { requestGpu } from "./device.ts";
import {
  philox4x32,
  randomBits,
  randomNormal,
  randomUniform,
  Rng,
  RNG_WGSL,
  seedKey,
} from "./rng.ts";

// Random123's published known-answer vectors (tests/kat_vectors) for Philox4x32-10.
const KAT: [number[], number[], number[]][] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  ],
  [
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xa4093822, 0x299f31d0],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  ],
];

Deno.test("philox4x32() reproduces the Random123 known-answer vectors", () => {
  for (const [ctr, key, expected] of KAT) {
    assert.deepEqual([...philox4x32(ctr, key)], expected);
  }
});

Deno.test("randomUniform() and randomNormal() have the moments of their distributions", () => {
  const n = 200_000;
  const u = randomUniform(7, 3, n);
  let s = 0, s2 = 0, lo = 1, hi = 0;
  for (const x of u) {
    s += x;
    s2 += x * x;
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  const mean = s / n, variance = s2 / n - mean * mean;
  // Standard error of the mean is sqrt(1/12/n) ≈ 6.5e-4; allow 5 of them.
  assert(Math.abs(mean - 0.5) < 3.3e-3, `uniform mean ${mean}`);
  assert(Math.abs(variance - 1 / 12) < 2e-3, `uniform variance ${variance}`);
  assert(lo >= 0 && hi < 1);
  const z = randomNormal(7, 4, n);
  let t = 0, t2 = 0, t4 = 0;
  for (const x of z) {
    t += x;
    t2 += x * x;
    t4 += x ** 4;
  }
  assert(Math.abs(t / n) < 0.012, `normal mean ${t / n}`);
  assert(Math.abs(t2 / n - 1) < 0.015, `normal variance ${t2 / n}`);
  assert(Math.abs(t4 / n - 3) < 0.1, `normal kurtosis ${t4 / n}`);
});

Deno.test("Rng draws depend on seed and stream and repeat for the same ones", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const a0 = a.bits(10), b0 = b.bits(10), c0 = c.bits(10);
  assert.deepEqual(a0, b0);
  assert.notDeepEqual(a0, c0);
  assert.notDeepEqual(a.bits(10), a0); // next stream differs
  assert.equal(a.stream, 2);
  // The first n words of a stream do not depend on how many are drawn.
  assert.deepEqual(randomBits(42, 0, 5), a0.slice(0, 5));
  assert.throws(
    () => new Rng(-1),
    (e: unknown) => e instanceof RangeError && /seed/.test(String(e)),
  );
  assert.deepEqual(seedKey(2 ** 40 + 5), [5, 256]);
});

Deno.test("RNG_WGSL gives the CPU's bits and uniforms, and its normals to float32 rounding", async () => {
  const gpu = await requestGpu();
  try {
    const device = gpu.device;
    const n = 1030; // not a multiple of 4 or of the workgroup size
    const seed = 2 ** 33 + 12345, stream = 77;
    const key = seedKey(seed);
    const code = RNG_WGSL + /* wgsl */ `
      // One invocation per element i: its word, uniform and normal.
      @group(0) @binding(0) var<storage, read_write> bits: array<u32>;
      @group(0) @binding(1) var<storage, read_write> uni: array<f32>;
      @group(0) @binding(2) var<storage, read_write> nor: array<f32>;
      @group(0) @binding(3) var<storage, read> params: array<u32>;
      @compute @workgroup_size(64)
      fn main(@builtin(global_invocation_id) id: vec3<u32>) {
        let i = id.x;
        if (i >= params[3]) { return; }
        let key = vec2<u32>(params[0], params[1]);
        bits[i] = philox_bits(key, params[2], i);
        uni[i] = philox_uniform(key, params[2], i);
        nor[i] = philox_normal(key, params[2], i);
      }`;
    const pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
    });
    const mk = () => createStorageBuffer(device, new Uint32Array(n));
    const out = [mk(), mk(), mk()];
    const params = createStorageBuffer(device, new Uint32Array([key[0], key[1], stream, n]));
    const bind = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [...out, params].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(Math.ceil(n / 64));
    pass.end();
    device.queue.submit([enc.finish()]);
    const gBits = new Uint32Array(await readBuffer(device, out[0], n * 4));
    const gUni = new Float32Array(await readBuffer(device, out[1], n * 4));
    const gNor = new Float32Array(await readBuffer(device, out[2], n * 4));
    assert.deepEqual(gBits, randomBits(seed, stream, n));
    assert.deepEqual(gUni, randomUniform(seed, stream, n));
    const cNor = randomNormal(seed, stream, n);
    let maxErr = 0;
    for (let i = 0; i < n; i++) maxErr = Math.max(maxErr, Math.abs(gNor[i] - cNor[i]));
    assert(maxErr < 2e-5, `normal max |gpu - cpu| = ${maxErr}`);
    assert.equal(gpu.failure, undefined);
  } finally {
    gpu.destroy();
  }
});
