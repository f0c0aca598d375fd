import assert from "node:assert/strict";
import {
  crossScan2d,
  crossScan2dBackwardReference,
  crossScan2dPlan,
  crossScan2dReference,
  type ScanKernelOptions,
  ScanShapeError,
  SelectiveScan,
  selectiveScan,
  selectiveScanBackwardReference,
  selectiveScanPlan,
  selectiveScanReference,
} from "./mod.ts";
import { crossInputs, genericInputs, maxErr, randomArray, relL2 } from "./_testing.ts";

// The GPU family ("chunked") against the float64 reference, its launch plan, and every scan
// kernel under a device limited to 10 storage buffers per shader stage (the Chromium
// software adapter's limit; the kernels bind at most 9). The device asks for exactly 10,
// so an 11th binding fails pipeline creation here on every run.
const adapter = await navigator.gpu.requestAdapter();
if (!adapter) throw new Error("no WebGPU adapter");
const device = await adapter.requestDevice({
  requiredLimits: {
    maxStorageBuffersPerShaderStage: 10,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
  },
});
let gpuError: string | undefined;
device.onuncapturederror = (e) => gpuError ??= (e as GPUUncapturedErrorEvent).error.message;

const GPU: ScanKernelOptions = { fallbackAdapter: false };
const GRADS = ["du", "ddelta", "dA", "dB", "dC", "dD", "dDeltaBias"] as const;

function checkGrads(
  tag: string,
  got: Record<(typeof GRADS)[number], Float32Array>,
  want: Record<(typeof GRADS)[number], ArrayLike<number>>,
): void {
  for (const k of GRADS) {
    assert(got[k].every(Number.isFinite), `${tag} ${k} has non-finite values`);
    const err = relL2(got[k], want[k]);
    assert(err <= 1e-5, `${tag} ${k}: relative L2 error ${err}`);
  }
}

Deno.test("chunked selectiveScan() matches the float64 reference: L off the chunk, L < chunk, L = 1, groups, batch 2", async () => {
  // [batch, G, Dg, L, N]: N = 16 → chunks of 16 (L = 37 leaves a tail of 5); N = 32 →
  // chunks of 8; N = 5 and 3 → odd states in the last vec4; L = 7 < chunk; L = 1.
  const shapes = [
    [2, 2, 3, 37, 16],
    [1, 3, 2, 7, 5],
    [2, 1, 4, 1, 16],
    [1, 2, 3, 50, 32],
    [2, 3, 1, 33, 3],
  ];
  for (const [batch, G, Dg, L, N] of shapes) {
    const tag = `generic ${[batch, G, Dg, L, N]}`;
    const x = genericInputs(batch, G, Dg, L, N, L + N);
    const dout = randomArray(batch * G * Dg * L, 7 + L);
    const r = await selectiveScan(device, x, dout, GPU);
    const e = maxErr(r.out, selectiveScanReference(x));
    assert(e <= 1e-5, `${tag} out: ${e}`);
    checkGrads(tag, r.grads!, selectiveScanBackwardReference(x, dout));
    // Inference: no state buffer (the carry pass runs on internal scratch).
    const inf = await selectiveScan(device, x, undefined, GPU);
    assert.deepEqual(inf.out, r.out, `${tag}: the inference forward differs`);
  }
  assert.equal(gpuError, undefined);
});

Deno.test("chunked crossScan2d() matches the flip/transpose reference: four direction dispatches merged in place", async () => {
  // [batch, H, W, Di, N]: non-square maps, L off the chunk, L = 1, one state, batch 2.
  const shapes = [[2, 3, 5, 6, 16], [1, 7, 4, 10, 8], [2, 1, 1, 3, 1], [1, 5, 7, 4, 20]];
  for (const [batch, H, W, Di, N] of shapes) {
    const tag = `cross ${[batch, H, W, Di, N]}`;
    const x = crossInputs(batch, H, W, Di, N, H * W + Di);
    const dy = randomArray(batch * H * W * Di, 3 + Di);
    const r = await crossScan2d(device, x, dy, GPU);
    const e = maxErr(r.y, crossScan2dReference(x));
    assert(e <= 1e-5, `${tag} y: ${e}`);
    checkGrads(tag, r.grads!, crossScan2dBackwardReference(x, dy));
  }
  assert.equal(gpuError, undefined);
});

Deno.test("every scan kernel of both families runs forward and backward on a device limited to 10 storage buffers", async () => {
  assert.equal(device.limits.maxStorageBuffersPerShaderStage, 10);
  const options: [string, ScanKernelOptions][] = [
    ["serial-row", { fallbackAdapter: true }],
    ["serial-row vec4", { fallbackAdapter: true, chunkLength: 4 }],
    ["workgroup-scan", { forward: "workgroup-scan" }],
    ["chunked", GPU],
  ];
  for (const [name, o] of options) {
    const x = genericInputs(2, 2, 3, 12, 4, 5);
    const dout = randomArray(2 * 6 * 12, 9);
    const r = await selectiveScan(device, x, dout, o);
    assert(maxErr(r.out, selectiveScanReference(x)) <= 1e-5, `${name} generic out`);
    checkGrads(`${name} generic`, r.grads!, selectiveScanBackwardReference(x, dout));
    const inf = await selectiveScan(device, x, undefined, o);
    assert(maxErr(inf.out, selectiveScanReference(x)) <= 1e-5, `${name} generic inference`);
    const c = crossInputs(2, 3, 4, 4, 4, 8);
    const dy = randomArray(2 * 12 * 4, 10);
    for (const channelMajorBackward of [false, true]) {
      const rc = await crossScan2d(device, c, dy, { ...o, channelMajorBackward });
      assert(maxErr(rc.y, crossScan2dReference(c)) <= 1e-5, `${name} cross y`);
      checkGrads(`${name} cross`, rc.grads!, crossScan2dBackwardReference(c, dy));
    }
  }
  assert.equal(gpuError, undefined);
});

Deno.test("the launch plan: every GPU-family kernel launches ≥ 100,000 invocations at VM-UNet's stage-1 shape, batch 1", () => {
  const stage1 = { height: 64, width: 64, channels: 192, dState: 16 };
  const dtSlot = { offset: 0, stride: 38, rank: 6 };
  for (const batch of [1, 8, 32]) {
    const plans = [
      [
        "generic",
        selectiveScanPlan(
          { batch, groups: 4, channelsPerGroup: 192, length: 4096, dState: 16 },
          GPU,
        ),
      ],
      ["cross", crossScan2dPlan({ batch, ...stage1, dtSlot }, GPU)],
    ] as const;
    for (const [layout, plan] of plans) {
      const kernels = new Set(plan.map((p) => `${p.pass} ${p.kernel}`));
      for (
        const k of [
          "forward forward local",
          "forward forward carry",
          "forward forward apply",
          "backward backward local",
          "backward backward carry",
          "backward backward apply",
          "backward backward dB/dC",
          "backward reduce dA/dD/dbias",
          "inference forward apply",
        ]
      ) assert(kernels.has(k), `${layout}: no ${k} in the plan`);
      for (const p of plan) {
        const tag = `${layout} batch ${batch} ${p.pass} ${p.kernel}`;
        assert.equal(p.invocations, p.workgroups * p.workgroupSize, tag);
        assert(p.invocations >= 100_000, `${tag}: ${p.invocations} invocations`);
        assert(p.storageBuffers <= 9, `${tag}: ${p.storageBuffers} storage buffers`);
        assert(p.workgroupSize <= 256, `${tag}: workgroup of ${p.workgroupSize}`);
      }
    }
  }
  // Stage 1, batch 1, exact: 768 rows × 256 chunks of 16; four direction dispatches.
  const plan = crossScan2dPlan({ batch: 1, ...stage1, dtSlot }, GPU);
  const line = (pass: string, kernel: string) =>
    plan.find((p) => p.pass === pass && p.kernel === kernel)!;
  assert.equal(line("forward", "forward local").invocations, 768 * 256);
  assert.equal(line("forward", "forward apply").invocations, 192 * 256 * 4);
  assert.equal(line("forward", "forward apply").dispatches, 4);
  assert.equal(line("backward", "backward dB/dC").invocations, 4 * 256 * 16 * 16);
  // The CPU family binds at most 9 too (its row kernels launch one invocation per row).
  const cpu = crossScan2dPlan({ batch: 1, ...stage1, dtSlot }, { fallbackAdapter: true });
  for (const p of cpu) assert(p.storageBuffers <= 9, `cpu ${p.kernel}: ${p.storageBuffers}`);
  assert.equal(cpu.find((p) => p.kernel === "backward rows")!.invocations, 192);
});

Deno.test("SelectiveScan.plan() is the device-free plan of the same configuration", () => {
  const shape = { batch: 2, groups: 2, channelsPerGroup: 3, length: 37, dState: 16 };
  for (const o of [GPU, { fallbackAdapter: true }]) {
    const scan = new SelectiveScan(device, shape, o);
    assert.deepEqual(scan.plan(), selectiveScanPlan(shape, o));
    scan.destroy();
  }
});

Deno.test("the chunked family rejects a chunk whose dB/dC workgroup would exceed 256 invocations", () => {
  assert.throws(
    () =>
      selectiveScanPlan({ batch: 1, groups: 1, channelsPerGroup: 1, length: 8, dState: 32 }, {
        ...GPU,
        chunkLength: 16,
      }),
    (e: unknown) => e instanceof ScanShapeError && /chunkLength 16 × dState 32/.test(e.message),
  );
});
