import assert from "node:assert/strict";
import { Engine } from "./engine.ts";
import { isSoftwareAdapter, requestGpu } from "./device.ts";
import { defineOp } from "./custom_op.ts";
import { createStorageBuffer } from "./buffer_io.ts";
import { add, mul, sigmoid } from "./ops/elementwise.ts";
import { sum } from "./ops/reduce.ts";
import { DisposedTensorError, GradError, ShapeError, TensorError } from "./tensor_errors.ts";
import { fitSquaredError, seeded } from "./_testing.ts";
import type { Tensor } from "./tensor.ts";

const engine = await Engine.create();

Deno.test("scope() disposes temporaries, keeps returned and kept tensors", async () => {
  const before = engine.stats().liveBytes;
  let temp: Tensor | undefined;
  let kept: Tensor | undefined;
  const out = engine.scope(() => {
    const a = engine.tensor([1, 2, 3], [3]);
    temp = add(a, a);
    kept = engine.keep(mul(a, a));
    return { sum: add(temp, a) };
  });
  assert.equal(temp!.isDisposed, true);
  assert.equal(kept!.isDisposed, false);
  assert.deepEqual([...await out.sum.read()], [3, 6, 9]);
  assert.deepEqual([...await kept!.read()], [1, 4, 9]);
  out.sum.dispose();
  kept!.dispose();
  assert.equal(engine.stats().liveBytes, before);
});

Deno.test("a disposed tensor raises DisposedTensorError naming the op and shape", async () => {
  const a = engine.tensor([1, 2, 3, 4], [2, 2], { label: "a" });
  a.dispose();
  assert.throws(
    () => add(a, a),
    (e: unknown) =>
      e instanceof DisposedTensorError &&
      /^add: tensor "a" of shape \[2, 2\] was disposed/.test(e.message),
  );
  assert.throws(() => a.buffer, DisposedTensorError);
  await assert.rejects(() => a.read(), DisposedTensorError);
});

Deno.test("backward() on a tensor without grad, or without a seed for a non-scalar, raises GradError", () => {
  engine.scope(() => {
    const a = engine.tensor([1, 2], [2]);
    const y = sum(mul(a, a));
    assert.throws(
      () => y.backward(),
      (e: unknown) =>
        e instanceof GradError &&
        /^backward: tensor of shape \[\] does not require grad/.test(e.message),
    );
    const b = engine.tensor([1, 2], [2], { requiresGrad: true });
    const z = mul(b, b);
    assert.throws(
      () => z.backward(),
      (e: unknown) =>
        e instanceof GradError && /shape \[2\] is not a scalar: pass a seed/.test(e.message),
    );
    assert.throws(
      () => z.backward(engine.tensor([1, 2, 3], [3])),
      (e: unknown) =>
        e instanceof ShapeError && /seed shape \[3\] differs from \[2\]/.test(e.message),
    );
    const n = engine.noGrad(() => mul(b, b));
    assert.equal(n.requiresGrad, false);
    b.dispose();
  });
});

Deno.test("dispatches share one submit until a read, and pipelines compile once", async () => {
  const s0 = engine.stats();
  const out = engine.scope(() => {
    let x = engine.tensor(seeded(64, 1), [64]);
    for (let i = 0; i < 20; i++) x = add(x, x);
    return x;
  });
  const s1 = engine.stats();
  assert.equal(s1.submits, s0.submits, "no submit before the read");
  assert(s1.dispatches - s0.dispatches >= 20);
  await out.read();
  assert.equal(engine.stats().submits, s1.submits + 1);
  out.dispose();
  const p = engine.stats().pipelines;
  engine.scope(() => add(engine.tensor([1], [1]), engine.tensor([2], [1])));
  assert.equal(engine.stats().pipelines, p);
});

Deno.test("live bytes after training step 50 equal those after step 2, and the loss falls", async () => {
  // A logistic model y = σ(x·w + b) fitted by plain SGD with in-place updates.
  const n = 64, d = 8;
  const xs = seeded(n * d, 11);
  const wTrue = seeded(d, 12, -2, 2);
  const labels = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z = 0;
    for (let j = 0; j < d; j++) z += xs[i * d + j] * wTrue[j];
    labels[i] = z > 0 ? 1 : 0;
  }
  const x = engine.keep(engine.tensor(Float32Array.from(xs), [n, d]));
  const t = engine.keep(engine.tensor(labels, [n, 1]));
  const w = engine.parameter(new Float32Array(d), [d], "w");
  const b = engine.parameter([0], [1], "b");
  const { first: firstLoss, last: lastLoss } = await fitSquaredError(
    engine,
    [w, b],
    () => sigmoid(add(sum(mul(x, w), 1, { keepdim: true }), b)),
    t,
    2,
  );
  assert(Math.abs(firstLoss - 0.25) < 1e-6, `initial loss ${firstLoss}`);
  assert(lastLoss < 0.1, `loss after 50 steps ${lastLoss}`);
  for (const q of [x, t, w, b]) q.dispose();
});

Deno.test("named kernel params: one declaration gives the WGSL struct and the packing", async () => {
  const kernel = engine.kernel("test.named_params", () => ({
    params: { n: "u32", scale: "f32", shift: "i32", pick: ["u32", 4] },
    bindings: [{ name: "y", access: "read_write" }],
    code: `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, 64u);
  if (i < params.n) { y[i] = f32(params.pick[i % 4u]) * params.scale + f32(params.shift); }
}`,
  }));
  const y = engine.empty([6]);
  engine.dispatch({
    kernel,
    bindings: [y],
    params: { n: 6, scale: 0.5, shift: -3, pick: [2, 4, 6] }, // pick[3] padded with 0
    workgroups: engine.grid(6, 64),
  });
  assert.deepEqual([...await y.read()], [-2, -1, 0, -3, -2, -1]);
  const bad = (params: unknown) => () =>
    engine.dispatch({
      kernel,
      bindings: [y],
      params: params as { n: number; scale: number; shift: number; pick: number[] },
      workgroups: [1],
    });
  assert.throws(bad({ n: 6, scale: 1, pick: [] }), /missing kernel param "shift"/);
  assert.throws(bad({ n: 6, scale: 1, shift: 0, pick: [1, 2, 3, 4, 5] }), /"pick" takes at most 4/);
  assert.throws(bad({ n: 6, scale: 1, shift: 0, pick: [], extra: 1 }), /unknown kernel param/);
  assert.throws(bad([6, 0, 0]), /declares named params/);
  y.dispose();
});

Deno.test("defineOp() plugs in a kernel with its own GPU buffer and backward", async () => {
  const factors = createStorageBuffer(engine.device, new Float32Array([2, -1, 0.5, 3]));
  const kernel = engine.kernel({
    key: "test.scaleByOwnBuffer",
    bindings: [{ name: "x" }, { name: "m" }, { name: "y", access: "read_write" }],
    code: `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, 64u);
  if (i < pu(0u)) { y[i] = x[i] * m[i % 4u]; }
}`,
  });
  const scale = (engine: Engine, x: Tensor): Tensor => {
    const y = engine.empty(x.shape);
    engine.dispatch({
      kernel,
      bindings: [x, factors, y],
      params: [x.size],
      workgroups: engine.grid(x.size, 64),
    });
    return y;
  };
  const op = defineOp<undefined>({
    name: "scaleByOwnBuffer",
    forward: (engine, [x]) => ({ outputs: [scale(engine, x)] }),
    backward: ({ engine, gradOutputs: [g] }) => [scale(engine, g!)],
  });
  await engine.scope(async () => {
    const x = engine.tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 4], { requiresGrad: true });
    const [y] = op([x], undefined);
    const l = sum(mul(y, y)); // dl/dx = 2·m²·x
    l.backward();
    assert.deepEqual([...await y.read()], [2, -2, 1.5, 12, 10, -6, 3.5, 24]);
    const m = [2, -1, 0.5, 3];
    assert.deepEqual(
      [...await x.grad!.read()],
      [1, 2, 3, 4, 5, 6, 7, 8].map((v, i) => 2 * m[i % 4] ** 2 * v),
    );
    x.dispose();
  });
  const noBackward = defineOp<undefined>({
    name: "forwardOnly",
    forward: (engine, [x]) => ({ outputs: [scale(engine, x)] }),
  });
  engine.scope(() => {
    const x = engine.tensor([1, 2, 3, 4], [4], { requiresGrad: true });
    const l = sum(noBackward([x], undefined)[0]);
    assert.throws(
      () => l.backward(),
      (e: unknown) =>
        e instanceof GradError &&
        /^forwardOnly: this custom op defines no backward/.test(e.message),
    );
    x.dispose();
  });
  factors.destroy();
});

Deno.test("the pool reuses buffers by size class and counts live and peak bytes", () => {
  const s0 = engine.stats();
  engine.scope(() => {
    const a = engine.zeros([1000]);
    a.dispose();
    engine.zeros([990]); // same 4 KiB class: reused
  });
  const s1 = engine.stats();
  assert(s1.reused > s0.reused);
  assert.equal(s1.liveBytes, s0.liveBytes);
  assert(s1.peakBytes >= s0.liveBytes + 4000);
});

/** The device's loss reason, or "not lost" if it is still alive after 20 s. */
async function lostReason(device: GPUDevice): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string>((resolve) =>
    timer = setTimeout(() => resolve("not lost"), 20_000)
  );
  try {
    return await Promise.race([device.lost.then((info) => info.reason as string), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("destroy() right after flushed work destroys the device once it is done; later use throws", async () => {
  const e = await Engine.create();
  const a = e.full([256, 256], 0.5);
  let y = a;
  for (let i = 0; i < 8; i++) y = add(mul(y, a), a);
  e.flush(); // submitted, not awaited: the engine cannot know it finished
  e.destroy();
  assert(e.isDestroyed);
  assert.equal(await lostReason(e.device), "destroyed");
  assert.equal(e.gpu.failure, undefined);
  assert.throws(
    () => add(a, a),
    (err: unknown) => err instanceof TensorError && /engine was destroyed/.test(String(err)),
  );
  await assert.rejects(
    () => e.read(y),
    (err: unknown) =>
      err instanceof TensorError && /read: the engine was destroyed/.test(String(err)),
  );
  e.destroy(); // idempotent
  await e.close(); // idempotent after destroy
});

Deno.test("close() waits for submitted work, drops unsubmitted commands and destroys the device", async () => {
  const e = await Engine.create();
  const a = e.full([256, 256], 0.25);
  e.flush();
  const before = e.stats().submits;
  mul(a, a); // recorded, never submitted
  await e.close();
  assert.equal(e.stats().submits, before);
  assert.equal(await lostReason(e.device), "destroyed");
  assert.equal(e.gpu.failure, undefined);
  await e.close();
  await assert.rejects(
    () => e.sync(),
    (err: unknown) =>
      err instanceof TensorError && /sync: the engine was destroyed/.test(String(err)),
  );
});

Deno.test("destroy() after a read destroys the device at once", async () => {
  const e = await Engine.create();
  const a = e.full([4], 2);
  assert.deepEqual(await e.read(a), new Float32Array([2, 2, 2, 2]));
  e.destroy();
  assert.equal(await lostReason(e.device), "destroyed");
});

Deno.test("option adapterClass overrides the adapter's class for the kernel choices; a bad value names the option", async () => {
  const auto = await Engine.create();
  assert.equal(auto.isCpuAdapter, isSoftwareAdapter(auto.gpu.adapterInfo));
  await auto.close();
  for (const [adapterClass, cpu] of [["cpu", true], ["gpu", false]] as const) {
    const engine = await Engine.create(undefined, { adapterClass });
    assert.equal(engine.isCpuAdapter, cpu, adapterClass);
    await engine.close();
  }
  const gpu = await requestGpu();
  assert.throws(
    () => new Engine(gpu, { adapterClass: "tpu" as "gpu" }),
    (e: unknown) => e instanceof TypeError && /adapterClass.*tpu/.test(e.message),
  );
  await gpu.close();
});
