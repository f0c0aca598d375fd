import assert from "node:assert/strict";
import {
  autotuneForward,
  type ScanKernelOptions,
  ScanShapeError,
  SelectiveScan,
  selectiveScan,
  selectiveScanBackwardReference,
  type SelectiveScanInputs,
  selectiveScanReference,
} from "./mod.ts";
import { genericInputs, maxErr, randomArray, relL2, testDevice } from "./_testing.ts";

const device = await testDevice(true);
/**
 * Subgroup broadcasts with the smallest width (several loads per lane), as most tests use;
 * short unrolled chunks keep shader compilation on the software adapter fast.
 */
const SG: ScanKernelOptions = { subgroups: true, subgroupMinSize: 4, chunkLength: 4 };

async function check(x: SelectiveScanInputs, options: ScanKernelOptions = SG, gradTol = 1e-4) {
  const CH = x.groups * x.channelsPerGroup;
  const dout = randomArray(x.batch * CH * x.length, 1234);
  const r = await selectiveScan(device, x, dout, options);
  const want = selectiveScanReference(x);
  const e = maxErr(r.out, want);
  assert(e <= 1e-4, `out: ${e}`);
  const g = selectiveScanBackwardReference(x, dout);
  for (const k of ["du", "ddelta", "dA", "dB", "dC", "dD", "dDeltaBias"] as const) {
    const got = r.grads![k];
    assert(got.every(Number.isFinite), `${k} has non-finite values`);
    const err = relL2(got, g[k]);
    assert(err <= gradTol, `${k}: relative L2 error ${err}`);
  }
}

Deno.test("selectiveScan() forward without checkpoints (no backward) matches the reference", async () => {
  // L = 12: the vec4 forward; L = 7: the scalar one; both without the state buffer.
  for (
    const [L, forward] of [[12, "serial-row"], [7, "serial-row"], [9, "workgroup-scan"]] as const
  ) {
    const x = genericInputs(2, 2, 5, L, 16, 40 + L);
    const r = await selectiveScan(device, x, undefined, { ...SG, forward });
    assert.equal(r.grads, undefined);
    const e = maxErr(r.out, selectiveScanReference(x));
    assert(e <= 1e-4, `L = ${L} ${forward}: ${e}`);
  }
});

Deno.test("selectiveScan() matches the reference for odd lengths 1, 7 and 1000", async () => {
  await check(genericInputs(2, 2, 3, 1, 16, 1));
  await check(genericInputs(2, 2, 3, 7, 16, 2));
  await check(genericInputs(1, 2, 3, 1000, 16, 3));
});

Deno.test("selectiveScan() carries the state across many chunks for L = 5003", async () => {
  // Default tuning (the chunk length the rule picks for real shapes).
  await check(genericInputs(1, 1, 2, 5003, 16, 4), { subgroups: true, subgroupMinSize: 4 }, 1e-3);
});

Deno.test("selectiveScan() matches the reference for N = 1, 8 and 16", async () => {
  await check(genericInputs(1, 2, 3, 33, 1, 5));
  await check(genericInputs(1, 2, 3, 33, 8, 6));
  await check(genericInputs(1, 2, 3, 33, 16, 7));
});

Deno.test("selectiveScan() matches the reference for N not a multiple of 4", async () => {
  await check(genericInputs(2, 3, 2, 19, 5, 8));
});

Deno.test("selectiveScan() stays finite and exact for extreme delta", async () => {
  await check(genericInputs(1, 2, 2, 41, 16, 9, { delta: [-80, 80] }));
  await check(genericInputs(1, 2, 2, 41, 16, 10, { delta: [15, 60] }));
  await check(genericInputs(1, 2, 2, 41, 16, 11, { delta: [-1e4, -50] }));
});

Deno.test("selectiveScan() is exact with several workgroup slices and odd chunk lengths", async () => {
  // 20 channels per group over workgroups of 8: a partial last workgroup, 3 dB/dC partials.
  await check(genericInputs(2, 2, 20, 45, 16, 12), { ...SG, workgroupSize: 8, chunkLength: 7 });
  await check(genericInputs(1, 1, 5, 30, 4, 13), { ...SG, workgroupSize: 4, chunkLength: 1 });
  await check(genericInputs(1, 2, 9, 50, 16, 15), {
    subgroups: true,
    subgroupMinSize: 8,
    chunkLength: 6,
  });
});

Deno.test("selectiveScan() with the workgroup-scan forward carries the prefix across chunks", async () => {
  // 256 positions per workgroup chunk: L = 1000 spans four, with a partial last one.
  await check(genericInputs(1, 2, 3, 1000, 16, 17), { ...SG, forward: "workgroup-scan" });
  await check(genericInputs(2, 1, 2, 300, 5, 18), { forward: "workgroup-scan", chunkLength: 7 });
});

Deno.test("autotuneForward() times both forward variants and picks the faster", async () => {
  const r = await autotuneForward(
    device,
    {
      batch: 1,
      groups: 2,
      channelsPerGroup: 8,
      length: 300,
      dState: 16,
    },
    SG,
    1,
  );
  assert(r.msPerCall["serial-row"] > 0 && r.msPerCall["workgroup-scan"] > 0);
  const faster = r.msPerCall["serial-row"] <= r.msPerCall["workgroup-scan"]
    ? "serial-row"
    : "workgroup-scan";
  assert.equal(r.forward, faster);
});

Deno.test("selectiveScan() is exact without subgroup operations (direct loads)", async () => {
  await check(genericInputs(2, 2, 3, 7, 16, 2), { chunkLength: 4 });
  await check(genericInputs(1, 2, 5, 61, 5, 16), { subgroups: false, chunkLength: 3 });
});

Deno.test("SelectiveScan rejects bad shapes, options and buffers with ScanShapeError", async () => {
  const plain = await testDevice(false);
  const shape = { batch: 1, groups: 2, channelsPerGroup: 2, length: 8, dState: 4 };
  assert.throws(
    () => new SelectiveScan(device, { ...shape, length: 0 }),
    (e: Error) =>
      e instanceof ScanShapeError && /'length' must be a positive integer, got 0/.test(e.message),
  );
  assert.throws(
    () => new SelectiveScan(device, { ...shape, dState: 2.5 }),
    (e: Error) => e instanceof ScanShapeError && /'dState'/.test(e.message),
  );
  assert.throws(
    () => new SelectiveScan(device, shape, { chunkLength: 0 }),
    (e: Error) => e instanceof ScanShapeError && /chunkLength/.test(e.message),
  );
  assert.throws(
    () => new SelectiveScan(plain, shape, { subgroups: true }),
    (e: Error) => e instanceof ScanShapeError && /without the "subgroups" feature/.test(e.message),
  );
  const scan = new SelectiveScan(device, shape);
  const buf = (n: number) => device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE });
  const good = {
    u: buf(32),
    delta: buf(32),
    A: buf(16),
    B: buf(64),
    C: buf(64),
    D: buf(4),
    deltaBias: buf(4),
    out: buf(32),
    state: buf(scan.stateBytes / 4),
  };
  const enc = device.createCommandEncoder();
  scan.encodeForward(enc, good);
  assert.throws(
    () => scan.encodeForward(enc, { ...good, B: buf(63) }),
    (e: Error) =>
      e instanceof ScanShapeError && /buffer 'B' has 252 bytes, needs at least 256/.test(e.message),
  );
  assert.throws(
    () => scan.encodeForward(enc, { ...good, state: buf(1) }),
    (e: Error) => e instanceof ScanShapeError && /'state'/.test(e.message),
  );
  enc.finish();
  scan.destroy();
  plain.destroy();
});

Deno.test("selectiveScan() rejects host arrays of the wrong length", async () => {
  const x = genericInputs(1, 2, 2, 5, 4, 14);
  await assert.rejects(
    () => selectiveScan(device, { ...x, C: [1, 2, 3] }),
    (e: Error) => e instanceof ScanShapeError && /'C' has 3 values, expected 40/.test(e.message),
  );
});
