import assert from "node:assert/strict";
import { ADAPTER_HELP, NoAdapterError, requestGpu } from "./mod.ts";
import { runSelfTest, withErrorScope } from "./kernels.ts";
import { GpuValidationError } from "./errors.ts";

Deno.test("requestGpu() reports a missing adapter with install instructions", async () => {
  const fakeGpu = { requestAdapter: () => Promise.resolve(null) } as unknown as GPU;
  const error = await requestGpu({ gpu: fakeGpu }).then(() => undefined, (e) => e);
  assert.ok(error instanceof NoAdapterError, String(error));
  assert(error.message.includes("returned null"), error.message);
  assert(error.message.includes("mesa-vulkan-drivers"), error.message);
  assert(error.message.includes(ADAPTER_HELP));
});

Deno.test("requestGpu() reports a runtime without navigator.gpu", async () => {
  await assert.rejects(
    requestGpu({ gpu: null }),
    (e: unknown) => e instanceof NoAdapterError && e.message.includes("no `navigator.gpu`"),
  );
});

Deno.test("requestGpu() raises limits to the adapter's and runs the self-test", async () => {
  const gpu = await requestGpu();
  try {
    const adapterMax = gpu.adapter.limits.maxStorageBufferBindingSize;
    assert.equal(gpu.limits.maxStorageBufferBindingSize, adapterMax);
    assert.equal(
      gpu.limits.maxComputeInvocationsPerWorkgroup,
      gpu.adapter.limits.maxComputeInvocationsPerWorkgroup,
    );
    const result = await runSelfTest(gpu.device, { size: 48, subgroups: gpu.subgroups });
    assert(result.ok, JSON.stringify(result));
    assert(result.maxAbsError <= 1e-5 * 48, `matmul error ${result.maxAbsError}`);
    assert.equal(result.size, 48);
    if (gpu.subgroups) assert.equal(result.subgroupsOk, true);
    assert.equal(gpu.failure, undefined);
  } finally {
    gpu.destroy();
  }
});

Deno.test("withErrorScope() turns a WebGPU validation error into a typed error", async () => {
  const gpu = await requestGpu();
  try {
    const error = await withErrorScope(gpu.device, "bad buffer", () => {
      // MAP_READ may only be combined with COPY_DST: a validation error.
      gpu.device.createBuffer({
        size: 16,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE,
      });
    }).then(() => undefined, (e) => e);
    assert.ok(error instanceof GpuValidationError, String(error));
    assert.equal(error.kind, "validation");
    assert(error.message.includes("bad buffer"), error.message);
  } finally {
    gpu.destroy();
  }
});

Deno.test("an uncaptured validation error is recorded as the context's failure", async () => {
  const seen: Error[] = [];
  const gpu = await requestGpu({ onError: (e) => seen.push(e) });
  try {
    gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    await gpu.device.queue.onSubmittedWorkDone();
    // Uncaptured errors are delivered asynchronously.
    for (let i = 0; i < 50 && !gpu.failure; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(gpu.failure instanceof GpuValidationError, String(gpu.failure));
    assert.equal(seen.length, 1);
    let thrown: unknown;
    try {
      gpu.throwIfFailed();
    } catch (e) {
      thrown = e;
    }
    assert.ok(thrown instanceof GpuValidationError, String(thrown));
  } finally {
    gpu.destroy();
  }
});

Deno.test("close() waits for submitted work, then destroys the device without recording a failure", async () => {
  const gpu = await requestGpu();
  const buffer = gpu.device.createBuffer({ size: 1 << 20, usage: GPUBufferUsage.COPY_DST });
  const encoder = gpu.device.createCommandEncoder();
  encoder.clearBuffer(buffer);
  gpu.device.queue.submit([encoder.finish()]);
  await gpu.close();
  assert.equal((await gpu.device.lost).reason, "destroyed");
  assert.equal(gpu.failure, undefined);
  await gpu.close(); // a second close is a no-op
});

/** Runs `requestGpu()` in a child process with `DENO_WEBGPU_BACKEND` set to `value`. */
async function requestGpuWithBackend(value: string): Promise<{ ok: boolean; out: string }> {
  const script = `
    import { requestGpu } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
    try {
      const gpu = await requestGpu();
      console.log("adapter " + gpu.adapterInfo.description + " env=" +
        JSON.stringify(Deno.env.get("DENO_WEBGPU_BACKEND") ?? null));
      await gpu.close();
    } catch (e) {
      console.log(e.name + ": " + e.message);
    }`;
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    env: { DENO_WEBGPU_BACKEND: value },
    stdout: "piped",
    stderr: "null",
  }).output();
  const out = new TextDecoder().decode(stdout);
  return { ok: out.startsWith("adapter "), out };
}

Deno.test("DENO_WEBGPU_BACKEND='' is treated like unset; a bad value's null adapter names the variable and its values first, with driver advice only for a known backend", async () => {
  const unset = await requestGpu();
  const expected = unset.adapterInfo.description;
  await unset.close();
  for (const blank of ["", " "]) {
    const r = await requestGpuWithBackend(blank);
    assert.ok(r.ok, `DENO_WEBGPU_BACKEND=${JSON.stringify(blank)}: ${r.out}`);
    assert.equal(r.out.trim(), `adapter ${expected} env=null`); // the default adapter; removed
  }
  // A value naming no known backend is the whole cause: no driver install advice.
  const bad = await requestGpuWithBackend("vulkna");
  assert.ok(!bad.ok, bad.out);
  assert.match(
    bad.out,
    /^NoAdapterError: `navigator\.gpu\.requestAdapter\(\)` returned null\. DENO_WEBGPU_BACKEND="vulkna" names no backend wgpu knows: unset it to let wgpu choose, or set it to a comma-separated list of vulkan, metal, dx12, gl\.\n?$/,
  );
  assert.ok(!bad.out.includes(ADAPTER_HELP), bad.out);
  // A known backend without an adapter here (no D3D12 off Windows): the cause first, then
  // the driver advice; the unknown entry is named as ignored.
  if (Deno.build.os !== "windows") {
    const absent = await requestGpuWithBackend("dx12,vulkna");
    assert.ok(!absent.ok, absent.out);
    assert.ok(
      absent.out.startsWith(
        'NoAdapterError: `navigator.gpu.requestAdapter()` returned null. DENO_WEBGPU_BACKEND="dx12,vulkna" limits the backends wgpu may use ("vulkna" ignored): unset it',
      ),
      absent.out,
    );
    assert.ok(absent.out.includes(ADAPTER_HELP), absent.out);
  }
});
