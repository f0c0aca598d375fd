import assert from "node:assert/strict";
import {
  CrossScan2d,
  type ScanKernelOptions,
  type ScanKernelPlan,
  ScanShapeError,
  SelectiveScan,
} from "./mod.ts";

// The scans take their dispatch grids from `device.limits.maxComputeWorkgroupsPerDimension`:
// checked on devices that only report limits (nothing is compiled before the first encode).

/** A stand-in device reporting `maxComputeWorkgroupsPerDimension: max`. */
function limitedDevice(max: number): GPUDevice {
  return {
    features: new Set<string>(),
    limits: {
      maxComputeWorkgroupsPerDimension: max,
      maxStorageBuffersPerShaderStage: 10,
      maxComputeInvocationsPerWorkgroup: 256,
      maxStorageBufferBindingSize: 2 ** 27,
    },
  } as unknown as GPUDevice;
}

const FAMILIES: ScanKernelOptions[] = [
  { fallbackAdapter: true },
  { fallbackAdapter: true, forward: "workgroup-scan" },
  { fallbackAdapter: false },
];

Deno.test("every scan kernel's grid fits the device's maxComputeWorkgroupsPerDimension", () => {
  const generic = { batch: 3, groups: 2, channelsPerGroup: 5, length: 300, dState: 16 };
  const cross = { batch: 3, height: 15, width: 20, channels: 5, dState: 16 };
  let split = 0;
  for (const o of FAMILIES) {
    const plans = (max: number): ScanKernelPlan[][] => [
      new SelectiveScan(limitedDevice(max), generic, o).plan(),
      new CrossScan2d(limitedDevice(max), cross, o).plan(),
    ];
    // A limit of 100: ScanCore refuses any grid past it, so constructing them is the check.
    const [limited, wide] = [plans(100), plans(65535)];
    for (const [i, plan] of limited.entries()) {
      for (const [j, p] of plan.entries()) {
        const need = wide[i][j].workgroups;
        const what = `${o.forward ?? o.fallbackAdapter} ${p.kernel}: ${p.workgroups} for ${need}`;
        // As many workgroups as without a limit, and fewer than one idle per row more.
        assert(p.workgroups >= need && p.workgroups - need < need / 100 + 3, what);
        if (need > 100) split++; // more than one row of the limit
      }
    }
  }
  assert(split > 0, "no grid needed splitting");
});

Deno.test("ScanCore rejects a grid past the device's maxComputeWorkgroupsPerDimension", () => {
  // The CPU family's row kernels put the batch on z.
  const shape = { batch: 5, groups: 1, channelsPerGroup: 4, length: 8, dState: 4 };
  assert.throws(
    () => new SelectiveScan(limitedDevice(4), shape, { fallbackAdapter: true }),
    (e: unknown) =>
      e instanceof ScanShapeError &&
      /kernel 'forward' needs a grid of 1×1×5 workgroups, above the device's maxComputeWorkgroupsPerDimension 4/
        .test(e.message),
  );
  const ok = new SelectiveScan(limitedDevice(4), { ...shape, batch: 4 }, { fallbackAdapter: true });
  assert.ok(ok.stateBytes > 0);
  // The chunked family's 72 reduce workgroups pass a limit of 16 only split over y.
  const chunked = new SelectiveScan(
    limitedDevice(16),
    { batch: 1, groups: 1, channelsPerGroup: 12, length: 8, dState: 4 },
    { fallbackAdapter: false },
  );
  const reduce = chunked.plan().find((p) => p.kernel === "reduce dA/dD/dbias")!;
  assert.equal(reduce.workgroups, 75); // 15 × 5 ≥ 12 · (4 + 2)
});
