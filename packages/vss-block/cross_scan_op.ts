/**
 * SS2D's four-direction selective scan as differentiable ops of the tensor engine:
 * `defineOp`s wrapping `CrossScan2d` of `@vmunet/ssm-kernel`, reading B and C straight from
 * the packed `x_dbl` projection and writing the merged output at natural positions —
 * {@linkcode crossScan} with a given `delta`, and {@linkcode ss2dScan} with the four
 * dt-projections fused in (what SS2D uses).
 *
 * @module
 */

import {
  CrossScan2d,
  crossScan2dPlan,
  type CrossScan2dShape,
  type ScanKernelOptions,
  type ScanKernelPlan,
} from "@vmunet/ssm-kernel";
import { add, type Engine, permute, ShapeError, type Tensor } from "@vmunet/tensor";
import { defineOp, formatShape } from "@vmunet/tensor/kernels";
import {
  DT_PROJECTION_WORKGROUP,
  dtProjectionBackwardInput,
  dtProjectionBackwardWeight,
  dtProjectionForward,
  dtProjectionForwardInvocations,
  dtProjectionPositions,
  type DtSizes,
} from "./_dt_projection.ts";

/** Sizes of one cross-scan call, read from its inputs. */
export interface CrossScanSizes {
  /** Batch B. */
  batch: number;
  /** Height H. */
  height: number;
  /** Width W. */
  width: number;
  /** Inner channels Di. */
  channels: number;
  /** State size N. */
  dState: number;
  /** dt rank R (x_dbl rows are `[dt (R) | B (N) | C (N)]`). */
  dtRank: number;
}

const OP = "crossScan2d";

/** The part of a tensor that {@linkcode crossScanSizes} checks. */
export type TensorShape = Pick<Tensor, "rank" | "shape" | "dtype">;
const cache = new WeakMap<GPUDevice, Map<string, CrossScan2d>>();

/** The scan kernels' adapter hints, as the ssm-kernel benchmark passes them. */
function scanOptions(engine: Engine): ScanKernelOptions {
  const info = engine.gpu.adapterInfo;
  return {
    subgroups: engine.gpu.subgroups,
    subgroupsDirective: engine.gpu.subgroupsDirective,
    subgroupMinSize: info.subgroupMinSize || undefined,
    fallbackAdapter: engine.isCpuAdapter,
  };
}

function scanFor(engine: Engine, s: CrossScanSizes): CrossScan2d {
  let perDevice = cache.get(engine.device);
  if (!perDevice) cache.set(engine.device, perDevice = new Map());
  const key = `${s.batch}x${s.height}x${s.width}x${s.channels}:${s.dState}:${s.dtRank}:${
    engine.isCpuAdapter ? "cpu" : "gpu"
  }`;
  let scan = perDevice.get(key);
  if (!scan) {
    scan = new CrossScan2d(engine.device, scanShape(s), scanOptions(engine));
    perDevice.set(key, scan);
  }
  return scan;
}

/** The cross-scan shape of a call: B, C and the dt rows read in place from x_dbl. */
function scanShape(s: CrossScanSizes): CrossScan2dShape {
  const P = s.dtRank + 2 * s.dState;
  return {
    batch: s.batch,
    height: s.height,
    width: s.width,
    channels: s.channels,
    dState: s.dState,
    bSlot: { offset: s.dtRank, stride: P },
    cSlot: { offset: s.dtRank + s.dState, stride: P },
    dtSlot: { offset: 0, stride: P, rank: s.dtRank },
  };
}

/**
 * What {@linkcode ss2dScan} launches for one call of these sizes, kernel by kernel (the
 * launch plan of `@vmunet/ssm-kernel`'s cross-scan plus the dt projection that feeds it Δ):
 * on a CPU adapter the inference forward projects Δ inside the scan; on a GPU, and with
 * the tape everywhere, the dt projection writes a Δ tensor first.
 *
 * @param s The call's sizes.
 * @param cpuAdapter The kernel choice: `engine.isCpuAdapter`.
 * @returns One line per kernel of the forward, the backward and the inference forward.
 * @example
 * ```ts
 * import { ss2dScanPlan } from "@vmunet/vss-block";
 * const s = { batch: 1, height: 64, width: 64, channels: 192, dState: 16, dtRank: 6 };
 * const plan = ss2dScanPlan(s, false);
 * const apply = plan.find((p) => p.pass === "forward" && p.kernel === "forward apply")!;
 * if (apply.invocations < 100_000) throw new Error(`${apply.invocations}`);
 * ```
 */
export function ss2dScanPlan(s: CrossScanSizes, cpuAdapter: boolean): ScanKernelPlan[] {
  const plan = crossScan2dPlan(scanShape(s), { fallbackAdapter: cpuAdapter });
  const invocations = dtProjectionForwardInvocations(
    dtSizes(s),
    dtProjectionPositions(cpuAdapter),
  );
  const workgroups = Math.ceil(invocations / DT_PROJECTION_WORKGROUP);
  const delta = (pass: ScanKernelPlan["pass"]): ScanKernelPlan => ({
    pass,
    kernel: "Δ: dt projection (vss-block)",
    workgroupSize: DT_PROJECTION_WORKGROUP,
    workgroups,
    invocations: workgroups * DT_PROJECTION_WORKGROUP,
    dispatches: 1,
    storageBuffers: 3,
  });
  const at = plan.findIndex((p) => p.pass === "inference");
  return [
    delta("forward"),
    ...plan.slice(0, at),
    ...(cpuAdapter ? [] : [delta("inference")]),
    ...plan.slice(at),
  ];
}

/**
 * Reads and checks the sizes of a cross-scan call from its inputs.
 *
 * @param inputs `[u, delta, xDbl, A, D, deltaBias]`.
 * @returns The sizes.
 * @throws {ShapeError} naming the input whose shape does not fit.
 */
export function crossScanSizes(inputs: readonly TensorShape[]): CrossScanSizes {
  const [u, delta, xDbl, A, D, bias] = inputs;
  if (inputs.length !== 6) throw new ShapeError(OP, `needs 6 inputs, got ${inputs.length}`);
  if (u.rank !== 4) {
    throw new ShapeError(OP, `u must be (B, H, W, Di), got ${formatShape(u.shape)}`);
  }
  const [batch, height, width, channels] = u.shape;
  if (A.rank !== 2 || A.shape[0] !== 4 * channels) {
    throw new ShapeError(
      OP,
      `A must be (4·Di, N) = (${4 * channels}, N), got ${formatShape(A.shape)}`,
    );
  }
  const dState = A.shape[1];
  const want = (name: string, t: TensorShape, shape: number[]) => {
    if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ShapeError(
        OP,
        `${name} must be ${formatShape(shape)}, got ${formatShape(t.shape)}`,
      );
    }
  };
  want("delta", delta, [batch, height, width, 4, channels]);
  if (xDbl.rank !== 5 || xDbl.shape[4] < 2 * dState) {
    throw new ShapeError(
      OP,
      `xDbl must be (B, H, W, 4, R + 2N) with N = ${dState}, got ${formatShape(xDbl.shape)}`,
    );
  }
  const dtRank = xDbl.shape[4] - 2 * dState;
  want("xDbl", xDbl, [batch, height, width, 4, dtRank + 2 * dState]);
  want("D", D, [4 * channels]);
  want("deltaBias", bias, [4 * channels]);
  for (
    const [name, t] of [["u", u], ["delta", delta], ["xDbl", xDbl], ["A", A], ["D", D], [
      "deltaBias",
      bias,
    ]] as const
  ) {
    if (t.dtype !== "f32") throw new ShapeError(OP, `${name} must be f32, got ${t.dtype}`);
  }
  return { batch, height, width, channels, dState, dtRank };
}

/** The scan buffers every call passes alike: B and C from x_dbl's slots, A, D, the bias. */
function sharedInputs(
  xDbl: Tensor,
  A: Tensor,
  D: Tensor,
  bias: Tensor,
): { B: GPUBuffer; C: GPUBuffer; A: GPUBuffer; D: GPUBuffer; deltaBias: GPUBuffer } {
  return { B: xDbl.buffer, C: xDbl.buffer, A: A.buffer, D: D.buffer, deltaBias: bias.buffer };
}

/**
 * Two zeroed `x_dbl`-shaped gradient buffers: the scan backward writes dB into the first and
 * dC into the second (their sum holds the B and C slots of `∂x_dbl`). One buffer bound twice as
 * writable storage is an aliasing error in WebGPU (Chromium's Dawn refuses it; Deno's wgpu
 * lets it through).
 */
function bcGradientBuffers(engine: Engine, xDbl: Tensor): [Tensor, Tensor] {
  return [engine.zeros(xDbl.shape), engine.zeros(xDbl.shape)];
}

/** The tensors a scan call reads: u, Δ, x_dbl (B and C at their slots), A, D, delta_bias. */
interface ScanTensors {
  u: Tensor;
  delta: Tensor;
  xDbl: Tensor;
  A: Tensor;
  D: Tensor;
  bias: Tensor;
}

/** Encodes the forward into `y`; returns the checkpoints the backward needs when `recording`. */
function encodeScanForward(
  engine: Engine,
  scan: CrossScan2d,
  t: ScanTensors,
  y: Tensor,
  recording: boolean,
): Tensor | undefined {
  const state = recording ? engine.empty([scan.stateBytes / 4]) : undefined;
  scan.encodeForward(engine.commandEncoder(), {
    u: t.u.buffer,
    delta: t.delta.buffer,
    ...sharedInputs(t.xDbl, t.A, t.D, t.bias),
    y: y.buffer,
    state: state?.buffer,
  });
  return state;
}

/** Gradients of one scan backward; dB and dC as {@linkcode bcGradientBuffers} describes. */
interface ScanGradients {
  du: Tensor;
  ddelta: Tensor;
  dxDbl: Tensor;
  dxC: Tensor;
  dA: Tensor;
  dD: Tensor;
  dBias: Tensor;
}

/** Encodes the backward from the forward's `state` and the output gradient `dy`. */
function encodeScanBackward(
  engine: Engine,
  scan: CrossScan2d,
  t: ScanTensors,
  state: Tensor,
  dy: Tensor,
): ScanGradients {
  const du = engine.empty(t.u.shape);
  const ddelta = engine.empty(t.delta.shape);
  const [dxDbl, dxC] = bcGradientBuffers(engine, t.xDbl);
  const dA = engine.empty(t.A.shape);
  const dD = engine.empty(t.D.shape);
  const dBias = engine.empty(t.bias.shape);
  scan.encodeBackward(engine.commandEncoder(), {
    u: t.u.buffer,
    delta: t.delta.buffer,
    ...sharedInputs(t.xDbl, t.A, t.D, t.bias),
    state: state.buffer,
    dy: dy.buffer,
    du: du.buffer,
    ddelta: ddelta.buffer,
    dB: dxDbl.buffer,
    dC: dxC.buffer,
    dA: dA.buffer,
    dD: dD.buffer,
    dDeltaBias: dBias.buffer,
  });
  return { du, ddelta, dxDbl, dxC, dA, dD, dBias };
}

const scanOp = defineOp<CrossScanSizes, { state: Tensor }>({
  name: OP,
  forward(engine, [u, delta, xDbl, A, D, bias], s, recording) {
    const y = engine.empty(u.shape);
    const state = encodeScanForward(
      engine,
      scanFor(engine, s),
      { u, delta, xDbl, A, D, bias },
      y,
      recording,
    );
    return { outputs: [y], saved: state ? { state } : undefined };
  },
  backward({ engine, inputs: [u, delta, xDbl, A, D, bias], gradOutputs: [dy], saved, attrs }) {
    if (!dy || !saved) return [null, null, null, null, null, null];
    // The kernel writes only the B slots (into dxDbl) and the C slots (into dxC); the dt slots
    // stay zero here (their gradient comes through the dt projection).
    const { du, ddelta, dxDbl, dxC, dA, dD, dBias } = encodeScanBackward(
      engine,
      scanFor(engine, attrs),
      { u, delta, xDbl, A, D, bias },
      saved.state,
      dy,
    );
    return [du, ddelta, add(dxDbl, dxC), dA, dD, dBias];
  },
});

/**
 * SS2D's cross-scan (docs/spec.md §3.3 steps 3, 6, 7) on channels-last tensors, differentiable:
 * `y[b,h,w,d] = Σ_k scan_k(...)` at natural positions, where direction k reads `u`, its
 * slice of `delta`, and B/C from the packed projection `xDbl` (B at rows `[R, R+N)`, C at
 * `[R+N, R+2N)` of each `(b, h, w, k)` record). Softplus of `delta + deltaBias` happens
 * inside. The backward returns gradients for all six inputs (the dt rows of `xDbl` get 0).
 *
 * @param u `(B, H, W, Di)` — SS2D's conv output after SiLU.
 * @param delta `(B, H, W, 4, Di)` — dt projection per direction, before bias.
 * @param xDbl `(B, H, W, 4, R + 2N)` — the x projection per direction.
 * @param A `(4·Di, N)` — `−exp(A_logs)`.
 * @param D `(4·Di)` — `Ds`.
 * @param deltaBias `(4·Di)` — `dt_projs_bias` flattened.
 * @returns `y (B, H, W, Di)`.
 * @throws {ShapeError} naming the input whose shape does not fit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "@vmunet/tensor";
 * import { crossScan } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const [B, H, W, Di, N, R] = [1, 2, 2, 1, 1, 1];
 * const u = engine.full([B, H, W, Di], 1);
 * const delta = engine.zeros([B, H, W, 4, Di]);
 * const xDbl = engine.zeros([B, H, W, 4, R + 2 * N]); // B = C = 0: only the D·u skip term
 * const A = engine.full([4 * Di, N], -1);
 * const y = crossScan(u, delta, xDbl, A, engine.full([4 * Di], 1), engine.zeros([4 * Di]));
 * assert.deepEqual(Array.from(await y.read()), [4, 4, 4, 4]); // D·u summed over 4 directions
 * engine.destroy();
 * ```
 */
export function crossScan(
  u: Tensor,
  delta: Tensor,
  xDbl: Tensor,
  A: Tensor,
  D: Tensor,
  deltaBias: Tensor,
): Tensor {
  const inputs = [u, delta, xDbl, A, D, deltaBias];
  return scanOp(inputs, crossScanSizes(inputs))[0];
}

const ss2dOp = defineOp<CrossScanSizes, { state: Tensor; delta: Tensor; wT: Tensor }>({
  name: "ss2dScan",
  forward(engine, [u, xDbl, dtW, A, D, bias], s, recording) {
    const dt = dtSizes(s);
    const scan = scanFor(engine, s);
    const y = engine.empty(u.shape);
    if (!recording && engine.isCpuAdapter) {
      // Inference on a CPU adapter: the serial-row scan projects Δ from x_dbl's dt rows
      // itself (no Δ tensor at all). GPUs keep their own forward variant, fed a Δ tensor.
      scan.encodeForwardProjected(engine.commandEncoder(), {
        u: u.buffer,
        dt: xDbl.buffer,
        dtWeight: dtW.buffer,
        ...sharedInputs(xDbl, A, D, bias),
        y: y.buffer,
      });
      return { outputs: [y] };
    }
    const wT = permute(dtW, [0, 2, 1]);
    const delta = dtProjectionForward(engine, xDbl, wT, dt, [
      s.batch,
      s.height,
      s.width,
      4,
      s.channels,
    ]);
    const state = encodeScanForward(engine, scan, { u, delta, xDbl, A, D, bias }, y, recording);
    return { outputs: [y], saved: state ? { state, delta, wT } : undefined };
  },
  backward({ engine, inputs: [u, xDbl, , A, D, bias], gradOutputs: [dy], saved, attrs }) {
    if (!dy || !saved) return [null, null, null, null, null, null];
    // B rows into dxDbl and C rows into dxC by the scan, dt rows into dxDbl below; the sum is
    // dx_dbl.
    const { du, ddelta, dxDbl, dxC, dA, dD, dBias } = encodeScanBackward(
      engine,
      scanFor(engine, attrs),
      { u, delta: saved.delta, xDbl, A, D, bias },
      saved.state,
      dy,
    );
    const dt = dtSizes(attrs);
    dtProjectionBackwardInput(engine, ddelta, saved.wT, dxDbl, dt);
    const dW = dtProjectionBackwardWeight(engine, ddelta, xDbl, dt);
    return [du, add(dxDbl, dxC), dW, dA, dD, dBias];
  },
});

function dtSizes(s: CrossScanSizes): DtSizes {
  if (s.channels % 4 !== 0) {
    throw new ShapeError("ss2dScan", `inner channels Di = ${s.channels} must be a multiple of 4`);
  }
  return {
    rows: s.batch * s.height * s.width,
    channels: s.channels,
    dtRank: s.dtRank,
    record: s.dtRank + 2 * s.dState,
  };
}

/**
 * SS2D's dt-projection and cross-scan in one differentiable op (docs/spec.md §3.3 steps 5–7):
 * `delta[b,h,w,k,d] = Σ_r dt_projs_weight[k,d,r]·xDbl[b,h,w,k,r]`, then
 * {@linkcode crossScan}. The backward writes every element of `∂xDbl` (dt rows from the
 * dt-projection, B and C rows from the scan) with no zero-fill and no accumulation pass.
 *
 * @param u `(B, H, W, Di)`, Di a multiple of 4.
 * @param xDbl `(B, H, W, 4, R + 2N)`.
 * @param dtProjsWeight `(4, Di, R)`.
 * @param A `(4·Di, N)` — `−exp(A_logs)`.
 * @param D `(4·Di)`.
 * @param deltaBias `(4·Di)`.
 * @returns `y (B, H, W, Di)`.
 * @throws {ShapeError} naming the input whose shape does not fit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "@vmunet/tensor";
 * import { ss2dScan } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const [B, H, W, Di, N, R] = [1, 2, 2, 4, 1, 1];
 * const y = ss2dScan(
 *   engine.full([B, H, W, Di], 1),
 *   engine.zeros([B, H, W, 4, R + 2 * N]),
 *   engine.zeros([4, Di, R]),
 *   engine.full([4 * Di, N], -1),
 *   engine.full([4 * Di], 1),
 *   engine.zeros([4 * Di]),
 * );
 * assert.ok((await y.read()).every((v) => v === 4)); // D·u summed over the 4 directions
 * engine.destroy();
 * ```
 */
export function ss2dScan(
  u: Tensor,
  xDbl: Tensor,
  dtProjsWeight: Tensor,
  A: Tensor,
  D: Tensor,
  deltaBias: Tensor,
): Tensor {
  const [batch, height, width, channels] = u.shape;
  if (u.rank !== 4) {
    throw new ShapeError("ss2dScan", `u must be (B, H, W, Di), got ${formatShape(u.shape)}`);
  }
  if (
    dtProjsWeight.rank !== 3 || dtProjsWeight.shape[0] !== 4 ||
    dtProjsWeight.shape[1] !== channels
  ) {
    throw new ShapeError(
      "ss2dScan",
      `dtProjsWeight must be (4, ${channels}, R), got ${formatShape(dtProjsWeight.shape)}`,
    );
  }
  const delta: TensorShape = {
    rank: 5,
    shape: [batch, height, width, 4, channels],
    dtype: "f32",
  };
  const s = crossScanSizes([u, delta, xDbl, A, D, deltaBias]);
  if (dtProjsWeight.shape[2] !== s.dtRank) {
    throw new ShapeError(
      "ss2dScan",
      `dtProjsWeight rank ${dtProjsWeight.shape[2]} differs from x_dbl's R = ${s.dtRank}`,
    );
  }
  return ss2dOp([u, xDbl, dtProjsWeight, A, D, deltaBias], s)[0];
}
