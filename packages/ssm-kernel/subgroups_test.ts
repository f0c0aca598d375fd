import assert from "node:assert/strict";
import { probeSubgroupsDirective, SelectiveScan, selectiveScan } from "./mod.ts";
import { testDevice } from "./_testing.ts";

const device = await testDevice(true);

Deno.test("the scan kernels start with `enable subgroups;` exactly when told or probed so", async () => {
  const x = {
    batch: 1,
    groups: 1,
    channelsPerGroup: 2,
    length: 3,
    dState: 4,
    u: [1, 2, 3, 4, 5, 6],
    delta: [0, 0, 0, 0, 0, 0],
    A: [-1, -1, -1, -1, -1, -1, -1, -1],
    B: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    C: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    D: [0, 0],
    deltaBias: [0, 0],
  };
  const probed = await probeSubgroupsDirective(device);
  // The probed default compiles and runs.
  const ok = await selectiveScan(device, x, undefined, { subgroups: true, subgroupMinSize: 4 });
  assert(ok.out.every(Number.isFinite));
  // Forcing the other answer puts the directive in (or leaves it out) and the device refuses.
  device.pushErrorScope("validation");
  const scan = new SelectiveScan(device, x, {
    subgroups: true,
    subgroupMinSize: 4,
    subgroupsDirective: !probed,
  });
  const encoder = device.createCommandEncoder();
  const buf = (n: number) =>
    device.createBuffer({ size: Math.max(16, n * 4), usage: GPUBufferUsage.STORAGE });
  try {
    scan.encodeForward(encoder, {
      u: buf(6),
      delta: buf(6),
      A: buf(8),
      B: buf(12),
      C: buf(12),
      D: buf(2),
      deltaBias: buf(2),
      out: buf(6),
    });
  } catch {
    // A refused module may also throw while encoding; the error scope below is the check.
  }
  const error = await device.popErrorScope();
  assert(error !== null, "the device accepted the opposite of the probed answer");
  if (!probed) assert.match(error.message, /subgroups/);
});
