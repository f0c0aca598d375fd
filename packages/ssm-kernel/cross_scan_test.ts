import assert from "node:assert/strict";
import {
  CrossScan2d,
  crossScan2d,
  crossScan2dBackwardReference,
  crossScan2dReference,
  ScanShapeError,
} from "./mod.ts";
import { readBack, upload } from "./_io.ts";
import { crossInputs, maxErr, randomArray, relL2, testDevice } from "./_testing.ts";

const device = await testDevice(true);
const SG = { subgroups: true, subgroupMinSize: 4, chunkLength: 4 };

const GRADS = ["du", "ddelta", "dB", "dC", "dA", "dD", "dDeltaBias"] as const;

/**
 * Packs `x`'s B and C into `x_dbl (B, H, W, 4, R + 2N)` rows after `R` leading values
 * `lead(row, i)`, as SS2D's x_proj writes them.
 */
function packXdbl(
  x: ReturnType<typeof crossInputs>,
  R: number,
  lead: (row: number, i: number) => number,
): Float32Array {
  const N = x.dState, P = R + 2 * N, rows = x.batch * x.height * x.width * 4;
  const xdbl = new Float32Array(rows * P);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < R; i++) xdbl[r * P + i] = lead(r, i);
    for (let n = 0; n < N; n++) {
      xdbl[r * P + R + n] = x.B[r * N + n];
      xdbl[r * P + R + N + n] = x.C[r * N + n];
    }
  }
  return xdbl;
}

/** `x`'s cross-scan shape with B and C read from slots of an `x_dbl` of rank `R`. */
function packedShape(x: ReturnType<typeof crossInputs>, R: number) {
  const N = x.dState, P = R + 2 * N;
  return {
    batch: x.batch,
    height: x.height,
    width: x.width,
    channels: x.channels,
    dState: N,
    bSlot: { offset: R, stride: P },
    cSlot: { offset: R + N, stride: P },
  };
}

Deno.test("crossScan2d() matches the materialised flip/transpose reference on a non-square map with B = 2", async () => {
  for (const [batch, H, W, Di, N] of [[2, 3, 5, 6, 16], [2, 7, 4, 10, 8], [1, 1, 9, 3, 1]]) {
    const x = crossInputs(batch, H, W, Di, N, 10 * H + W);
    const dy = randomArray(batch * H * W * Di, 77);
    const r = await crossScan2d(device, x, dy, SG);
    const e = maxErr(r.y, crossScan2dReference(x));
    assert(e <= 1e-4, `y ${batch}x${H}x${W}: ${e}`);
    const g = crossScan2dBackwardReference(x, dy);
    for (const k of GRADS) {
      const err = relL2(r.grads![k], g[k]);
      assert(err <= 1e-4, `${k} ${batch}x${H}x${W}: ${err}`);
    }
  }
});

Deno.test("crossScan2d() is exact across chunks and workgroup slices (L = 150, Di = 20, wg 8, chunk 5)", async () => {
  const x = crossInputs(2, 10, 15, 20, 16, 5);
  const dy = randomArray(2 * 150 * 20, 6);
  const r = await crossScan2d(device, x, dy, { ...SG, workgroupSize: 8, chunkLength: 5 });
  assert(maxErr(r.y, crossScan2dReference(x)) <= 1e-4);
  const g = crossScan2dBackwardReference(x, dy);
  for (const k of GRADS) assert(relL2(r.grads![k], g[k]) <= 1e-4, k);
});

Deno.test("crossScan2d() backward is the same on channels-last and channel-major copies", async () => {
  // L = 12 and Di = 8 take the vec4 block transposes; L = 15 and Di = 6 the scalar ones.
  for (const [H, W, Di] of [[3, 4, 8], [3, 5, 6]]) {
    const x = crossInputs(2, H, W, Di, 16, 3 * H + Di);
    const dy = randomArray(2 * H * W * Di, 11);
    const g = crossScan2dBackwardReference(x, dy);
    for (const channelMajorBackward of [false, true]) {
      const r = await crossScan2d(device, x, dy, { ...SG, channelMajorBackward });
      for (const k of GRADS) {
        const err = relL2(r.grads![k], g[k]);
        assert(err <= 1e-4, `${k} ${H}x${W}x${Di} channelMajor ${channelMajorBackward}: ${err}`);
      }
    }
  }
});

Deno.test("crossScan2d() forward without checkpoints (no backward) matches the reference", async () => {
  const x = crossInputs(2, 3, 5, 6, 16, 21);
  const r = await crossScan2d(device, x, undefined, SG);
  assert.equal(r.grads, undefined);
  assert(maxErr(r.y, crossScan2dReference(x)) <= 1e-4);
});

Deno.test("crossScan2d() with the workgroup-scan forward matches the reference (L = 300)", async () => {
  const x = crossInputs(2, 20, 15, 6, 16, 9);
  const dy = randomArray(2 * 300 * 6, 10);
  const r = await crossScan2d(device, x, dy, { ...SG, forward: "workgroup-scan" });
  assert(maxErr(r.y, crossScan2dReference(x)) <= 1e-4);
  const g = crossScan2dBackwardReference(x, dy);
  for (const k of GRADS) assert(relL2(r.grads![k], g[k]) <= 1e-4, k);
});

Deno.test("CrossScan2d reads B/C from a packed x_dbl and writes dB/dC into dx_dbl slots only", async () => {
  const batch = 2, H = 3, W = 4, Di = 8, N = 4, R = 3, L = H * W;
  const P = R + 2 * N;
  const x = crossInputs(batch, H, W, Di, N, 42);
  const xdbl = packXdbl(x, R, (_, i) => 100 + i);
  const scan = new CrossScan2d(device, packedShape(x, R), { subgroups: false, chunkLength: 4 });
  const dy = randomArray(batch * L * Di, 3);
  const b = {
    u: upload(device, x.u, "u"),
    delta: upload(device, x.delta, "delta"),
    B: upload(device, xdbl, "x_dbl"),
    A: upload(device, x.A, "A"),
    D: upload(device, x.D, "D"),
    deltaBias: upload(device, x.deltaBias, "bias"),
  };
  const y = upload(device, batch * L * Di, "y");
  const state = upload(device, scan.stateBytes / 4, "state");
  const dx = upload(device, new Float32Array(xdbl.length).fill(7), "dx_dbl");
  const g = {
    du: upload(device, batch * L * Di, "du"),
    ddelta: upload(device, batch * L * 4 * Di, "ddelta"),
    dA: upload(device, 4 * Di * N, "dA"),
    dD: upload(device, 4 * Di, "dD"),
    dDeltaBias: upload(device, 4 * Di, "dbias"),
  };
  const enc = device.createCommandEncoder();
  scan.encodeForward(enc, { ...b, C: b.B, y, state });
  scan.encodeBackward(enc, {
    ...b,
    C: b.B,
    state,
    dy: upload(device, dy, "dy"),
    dB: dx,
    dC: dx,
    ...g,
  });
  const staging = [y, dx, g.du].map((s) => {
    const m = device.createBuffer({
      size: s.size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    enc.copyBufferToBuffer(s, 0, m, 0, s.size);
    return m;
  });
  device.queue.submit([enc.finish()]);
  const [gy, gdx, gdu] = await Promise.all(staging.map(async (m) => {
    await m.mapAsync(GPUMapMode.READ);
    return new Float32Array(m.getMappedRange().slice(0));
  }));
  assert(maxErr(gy, crossScan2dReference(x)) <= 1e-4);
  const ref = crossScan2dBackwardReference(x, dy);
  assert(relL2(gdu, ref.du) <= 1e-4);
  const dB = new Float32Array(ref.dB.length);
  const dC = new Float32Array(ref.dC.length);
  for (let r = 0; r < batch * L * 4; r++) {
    for (let i = 0; i < R; i++) assert.equal(gdx[r * P + i], 7, `dt slot ${r}:${i} was written`);
    for (let n = 0; n < N; n++) {
      dB[r * N + n] = gdx[r * P + R + n];
      dC[r * N + n] = gdx[r * P + R + N + n];
    }
  }
  assert(relL2(dB, ref.dB) <= 1e-4, "dB");
  assert(relL2(dC, ref.dC) <= 1e-4, "dC");
  scan.destroy();
});

Deno.test("CrossScan2d rejects bad slots and shapes with ScanShapeError", () => {
  const shape = { batch: 1, height: 2, width: 2, channels: 4, dState: 4 };
  assert.throws(
    () => new CrossScan2d(device, { ...shape, bSlot: { offset: 0, stride: 3 } }),
    (e: Error) => e instanceof ScanShapeError && /bSlot .*stride ≥ dState 4/.test(e.message),
  );
  assert.throws(
    () => new CrossScan2d(device, { ...shape, width: -1 }),
    (e: Error) => e instanceof ScanShapeError && /'width'/.test(e.message),
  );
  const scan = new CrossScan2d(device, { ...shape, cSlot: { offset: 2, stride: 10 } });
  const buf = (n: number) => device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE });
  const enc = device.createCommandEncoder();
  assert.throws(
    () =>
      scan.encodeForward(enc, {
        u: buf(16),
        delta: buf(64),
        B: buf(64),
        C: buf(155), // needs 2 + 15·10 + 4 = 156
        A: buf(64),
        D: buf(16),
        deltaBias: buf(16),
        y: buf(16),
        state: buf(scan.stateBytes / 4),
      }),
    (e: Error) =>
      e instanceof ScanShapeError && /'C' has 620 bytes, needs at least 624/.test(e.message),
  );
  enc.finish();
  scan.destroy();
});

Deno.test("CrossScan2d.encodeForwardProjected() projects delta from x_dbl's dt rows in the kernel", async () => {
  // R = 3 (one subgroup load), R = 11 (three loads of a 4-wide subgroup); with and without subgroups.
  for (const [R, subgroups] of [[3, true], [11, true], [5, false]] as const) {
    const batch = 2, H = 3, W = 5, Di = 8, N = 4, L = H * W, P = R + 2 * N;
    const x = crossInputs(batch, H, W, Di, N, 60 + R);
    const dtRows = randomArray(batch * L * 4 * R, 61 + R, -1, 1);
    const weight = randomArray(4 * Di * R, 62 + R, -0.5, 0.5);
    const xdbl = packXdbl(x, R, (r, i) => dtRows[r * R + i]);
    const delta = new Float64Array(batch * L * 4 * Di);
    for (let r = 0; r < batch * L * 4; r++) {
      const k = r % 4;
      for (let d = 0; d < Di; d++) {
        let s = 0;
        for (let i = 0; i < R; i++) s += weight[(k * Di + d) * R + i] * xdbl[r * P + i];
        delta[r * Di + d] = s;
      }
    }
    const scan = new CrossScan2d(device, {
      ...packedShape(x, R),
      dtSlot: { offset: 0, stride: P, rank: R },
    }, { ...SG, subgroups });
    const xb = upload(device, xdbl, "x_dbl");
    const y = upload(device, batch * L * Di, "y");
    const enc = device.createCommandEncoder();
    scan.encodeForwardProjected(enc, {
      u: upload(device, x.u, "u"),
      dt: xb,
      dtWeight: upload(device, weight, "dt_projs_weight"),
      B: xb,
      C: xb,
      A: upload(device, x.A, "A"),
      D: upload(device, x.D, "D"),
      deltaBias: upload(device, x.deltaBias, "bias"),
      y,
    });
    const [got] = await readBack(device, enc, [y]);
    const e = maxErr(got, crossScan2dReference({ ...x, delta }));
    assert(e <= 1e-4, `R = ${R} subgroups ${subgroups}: ${e}`);
  }
});

Deno.test("CrossScan2d.encodeForwardProjected() needs dtSlot and names a short dt buffer", () => {
  const shape = { batch: 1, height: 2, width: 2, channels: 4, dState: 4 };
  const small = upload(device, 4, "tiny");
  const b = {
    u: small,
    dt: small,
    dtWeight: small,
    B: small,
    C: small,
    A: small,
    D: small,
    deltaBias: small,
    y: small,
  };
  assert.throws(
    () => new CrossScan2d(device, shape).encodeForwardProjected(device.createCommandEncoder(), b),
    (e: unknown) => e instanceof ScanShapeError && /dtSlot/.test(e.message),
  );
  assert.throws(
    () => new CrossScan2d(device, { ...shape, dtSlot: { offset: 0, stride: 2, rank: 3 } }),
    (e: unknown) => e instanceof ScanShapeError && /stride ≥ rank/.test(e.message),
  );
  const scan = new CrossScan2d(device, { ...shape, dtSlot: { offset: 0, stride: 3, rank: 3 } });
  assert.throws(
    () => scan.encodeForwardProjected(device.createCommandEncoder(), b),
    (e: unknown) => e instanceof ScanShapeError && /'u'/.test(e.message),
  );
});
