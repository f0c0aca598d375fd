import { SelectiveScan, selectiveScanReference } from "./mod.ts";
import { upload } from "./_io.ts";
import { randomArray, testDevice } from "./_testing.ts";

// Micro case: one VM-UNet-like group set, short sequence (B=1, G=4, D=16, L=256, N=16).
const shape = { batch: 1, groups: 4, channelsPerGroup: 16, length: 256, dState: 16 };
const CH = 64, L = 256, N = 16;
const device = await testDevice(true);
const scan = new SelectiveScan(device, shape, { subgroups: true, subgroupMinSize: 4 });
const inputs = {
  u: randomArray(CH * L, 1),
  delta: randomArray(CH * L, 2, -3, 1),
  A: randomArray(CH * N, 3, -2, -0.1),
  B: randomArray(4 * N * L, 4),
  C: randomArray(4 * N * L, 5),
  D: randomArray(CH, 6),
  deltaBias: randomArray(CH, 7, -1, 0),
};
const b = {
  u: upload(device, inputs.u, "u"),
  delta: upload(device, inputs.delta, "delta"),
  A: upload(device, inputs.A, "A"),
  B: upload(device, inputs.B, "B"),
  C: upload(device, inputs.C, "C"),
  D: upload(device, inputs.D, "D"),
  deltaBias: upload(device, inputs.deltaBias, "bias"),
  out: upload(device, CH * L, "out"),
  state: upload(device, scan.stateBytes / 4, "state"),
};

Deno.bench("CPU float64 reference forward (B=1, G·D=64, L=256, N=16)", { baseline: true }, () => {
  selectiveScanReference({ ...shape, ...inputs });
});

Deno.bench(
  "GPU forward, 10 calls in one submit (whole batch timed) (B=1, G·D=64, L=256, N=16)",
  async (t) => {
    const enc = device.createCommandEncoder();
    t.start();
    for (let i = 0; i < 10; i++) scan.encodeForward(enc, b);
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    t.end();
  },
);
