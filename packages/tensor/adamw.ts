/**
 * AdamW with PyTorch's exact update (`torch.optim.AdamW`, amsgrad off), optional gradient
 * clipping by global norm, and optimizer state save/load. Every update is recorded into the
 * engine's pending command encoder (one fused `vec4` kernel per parameter, plus a scalar one
 * for the last 1–3 elements of a size that is not a multiple of 4), with no readback.
 *
 * @module
 */

import { type Bindable, type Engine, grid1d, type Kernel } from "./engine.ts";
import type { Tensor } from "./tensor.ts";
import { formatShape, ShapeError, TensorError } from "./tensor_errors.ts";
import { Words } from "./_nn_util.ts";
import type { SafetensorsInput } from "./safetensors.ts";

/** Invocations of the one-workgroup kernel that combines the norm's partial sums. */
const NORM_WG = 64;

/** A group of parameters sharing a weight decay (PyTorch's param groups). */
export interface ParamGroup {
  /** The parameters (leaf tensors that require grad). */
  params: readonly Tensor[];
  /** Weight decay of this group (default: the optimizer's). */
  weightDecay?: number;
}

/** Options of {@linkcode AdamW}. Defaults are VM-UNet's config (docs/spec.md §8). */
export interface AdamWOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** β1, β2 (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** ε added to the denominator (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay (default 1e-2), applied as `p ← p·(1 − lr·wd)` before the step. */
  weightDecay?: number;
  /** If set, gradients are clipped to this global L2 norm before each step (on the GPU). */
  maxGradNorm?: number;
  /** Shape of the update and norm kernels (defaults measured fastest on lavapipe). */
  kernel?: AdamWKernelOptions;
}

/**
 * Tuning knobs of the optimizer's kernels. The update does the same operations per element
 * in the same order under every shape; only the summation order of the gradient norm
 * changes. Defaults (fastest on lavapipe, BENCHMARKS.md "AdamW"): `vec4` loads, one vector
 * per invocation, 256 invocations per workgroup, 16 vectors per invocation in the norm's
 * partial sums.
 */
export interface AdamWKernelOptions {
  /**
   * Elements per load and store: 4 (`vec4`, default) or 1. With 4, the last 1–3 elements of
   * a tensor whose size is not a multiple of 4 are updated by a second, scalar dispatch.
   */
  vectorWidth?: 1 | 4;
  /** Vectors each invocation of the update updates, grid-strided (default 1). */
  vectorsPerInvocation?: number;
  /** Invocations per workgroup of the update, norm and scale kernels (default 256). */
  workgroupSize?: number;
  /** Consecutive vectors each invocation sums for the gradient norm (default 16). */
  normVectorsPerInvocation?: number;
}

/** Per-parameter optimizer state as plain arrays. */
export interface AdamWParamState {
  /** Steps taken for this parameter (PyTorch's `state['step']`). */
  step: number;
  /** First moment (`exp_avg`). */
  expAvg: Float32Array;
  /** Second moment (`exp_avg_sq`). */
  expAvgSq: Float32Array;
}

interface Slot {
  param: Tensor;
  weightDecay: number;
  m: Tensor | null;
  v: Tensor | null;
  step: number;
}

/**
 * AdamW exactly as `torch.optim.AdamW` (single-tensor path, amsgrad off):
 * `p ← p·(1 − lr·wd)`; `m ← β1·m + (1 − β1)·g`; `v ← β2·v + (1 − β2)·g²`;
 * `p ← p − (lr / (1 − β1^t))·m / (√v / √(1 − β2^t) + ε)`, with t counted per parameter.
 * Parameters without a gradient are skipped (as PyTorch). All parameters decay by default
 * (VM-UNet passes `model.parameters()`); give groups to exclude some.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AdamW, Engine, mul, sum } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const w = engine.parameter([1, -2], [2], "w");
 * const opt = new AdamW([w], { lr: 0.1 });
 * for (let i = 0; i < 3; i++) {
 *   engine.scope(() => {
 *     sum(mul(w, w)).backward();
 *     opt.step();
 *     opt.zeroGrad();
 *   });
 * }
 * const [a, b] = await w.read(); // both entries moved towards 0, by about lr per step
 * assert.ok(a > 0.6 && a < 0.8 && b > -1.8 && b < -1.6);
 * await engine.close();
 * ```
 */
export class AdamW {
  /** The engine of the parameters. */
  readonly engine: Engine;
  /** Learning rate (a schedule may set it between steps). */
  lr: number;
  /** β1, β2. */
  readonly betas: readonly [number, number];
  /** ε. */
  readonly eps: number;
  /** Global-norm clipping threshold, if any. */
  readonly maxGradNorm: number | undefined;
  #slots: Slot[] = [];
  #shape: KernelShape;

  /**
   * Creates the optimizer (state is allocated at the first step of each parameter).
   *
   * @param params Parameters, or groups with their own weight decay.
   * @param options Hyper-parameters.
   * @throws {RangeError} for invalid hyper-parameters or kernel options;
   *   {@linkcode TensorError} for an empty list, a parameter listed twice or one that is not
   *   f32.
   */
  constructor(params: readonly Tensor[] | readonly ParamGroup[], options: AdamWOptions = {}) {
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 1e-2 } = options;
    if (!(lr >= 0)) throw new RangeError(`AdamW: invalid lr ${lr}`);
    if (!(betas[0] >= 0 && betas[0] < 1 && betas[1] >= 0 && betas[1] < 1)) {
      throw new RangeError(`AdamW: betas must be in [0, 1), got [${betas}]`);
    }
    if (!(eps >= 0)) throw new RangeError(`AdamW: invalid eps ${eps}`);
    if (!(weightDecay >= 0)) throw new RangeError(`AdamW: invalid weightDecay ${weightDecay}`);
    if (options.maxGradNorm !== undefined && !(options.maxGradNorm > 0)) {
      throw new RangeError(`AdamW: maxGradNorm must be > 0, got ${options.maxGradNorm}`);
    }
    this.lr = lr;
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.maxGradNorm = options.maxGradNorm;
    this.#shape = kernelShape("AdamW", options.kernel);
    const groups: ParamGroup[] = params.length > 0 && !("params" in params[0])
      ? [{ params: params as readonly Tensor[] }]
      : [...(params as readonly ParamGroup[])];
    const seen = new Set<Tensor>();
    for (const g of groups) {
      for (const p of g.params) {
        const name = p.label ? `"${p.label}" ` : "";
        if (seen.has(p)) {
          throw new TensorError("AdamW", `parameter ${name}${formatShape(p.shape)} listed twice`);
        }
        if (p.dtype !== "f32") {
          throw new TensorError(
            "AdamW",
            `parameter ${name}${formatShape(p.shape)} must be f32, got ${p.dtype}`,
          );
        }
        seen.add(p);
        this.#slots.push({
          param: p,
          weightDecay: g.weightDecay ?? weightDecay,
          m: null,
          v: null,
          step: 0,
        });
      }
    }
    if (this.#slots.length === 0) throw new TensorError("AdamW", "got an empty parameter list");
    this.engine = this.#slots[0].param.engine;
  }

  /** The parameters in order (state-dict index order). */
  get params(): Tensor[] {
    return this.#slots.map((s) => s.param);
  }

  /**
   * Records one update of every parameter that has a gradient (no submit, no readback).
   * With `maxGradNorm`, the gradients are first scaled by `min(1, max/(‖g‖ + 1e-6))` as
   * `torch.nn.utils.clip_grad_norm_` (in the same encoder).
   */
  step(): void {
    const engine = this.engine;
    const active = this.#slots.filter((s) => s.param.grad !== null);
    if (active.length === 0) return;
    for (const { param: p } of active) {
      if (p.grad!.shape.join() !== p.shape.join()) {
        throw new ShapeError(
          "AdamW.step",
          `gradient ${formatShape(p.grad!.shape)} of parameter ${p.label ?? ""} ${
            formatShape(p.shape)
          }`,
        );
      }
    }
    const shape = this.#shape;
    let coef: Tensor | null = null;
    if (this.maxGradNorm !== undefined) {
      coef = gradNormCoefficient(
        engine,
        active.map((s) => s.param.grad!),
        this.maxGradNorm,
        shape,
      );
    }
    const [b1, b2] = this.betas;
    for (const s of active) {
      const p = s.param, g = p.grad!;
      if (!s.m) {
        s.m = engine.keep(engine.zeros(p.shape));
        s.v = engine.keep(engine.zeros(p.shape));
      }
      s.step++;
      const bc1 = 1 - b1 ** s.step;
      const bc2 = 1 - b2 ** s.step;
      const floats = [
        1 - this.lr * s.weightDecay,
        b1,
        1 - b1,
        b2,
        1 - b2,
        this.lr / bc1,
        Math.sqrt(bc2),
        this.eps,
      ];
      const clip = coef ?? g;
      for (const part of parts(p.size, shape.vec)) {
        engine.dispatch({
          kernel: updateKernel(engine, part.width, shape.per, shape.wg),
          bindings: [p, g, s.m, s.v!].map((t) => bindPart(t, part, "AdamW.step")).concat(clip),
          params: new Words().u(part.count, coef ? 1 : 0, part.start).f(...floats).words,
          workgroups: grid1d(Math.ceil(part.count / shape.per), shape.wg),
          op: "AdamW.step",
        });
      }
    }
    coef?.dispose();
  }

  /** Drops every parameter's gradient (PyTorch `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const s of this.#slots) {
      s.param.grad?.dispose();
      s.param.grad = null;
    }
  }

  /**
   * Reads the state back (one readback per tensor: for checkpoints only).
   *
   * @returns One entry per parameter, in order; moments are zeros before the first step.
   */
  async state(): Promise<AdamWParamState[]> {
    // Every readback is issued before any is awaited: one GPU sync in all, not two per
    // parameter (each sync costs ≥ 10 ms; a checkpoint of 131 parameters took 2.6 s).
    const read = (t: Tensor | null, size: number) =>
      t ? t.read() as Promise<Float32Array> : Promise.resolve(new Float32Array(size));
    return await Promise.all(this.#slots.map(async (s) => {
      const [expAvg, expAvgSq] = await Promise.all([
        read(s.m, s.param.size),
        read(s.v, s.param.size),
      ]);
      return { step: s.step, expAvg, expAvgSq };
    }));
  }

  /**
   * The state as safetensors-ready entries: `state.<i>.exp_avg`, `state.<i>.exp_avg_sq`
   * (F32, the parameter's shape) and `state.<i>.step` (F64 `[1]`), i = parameter index.
   *
   * @returns Entries for `serializeSafetensors`.
   */
  async stateDict(): Promise<Record<string, SafetensorsInput>> {
    const record: Record<string, SafetensorsInput> = {};
    const state = await this.state();
    state.forEach((st, i) => {
      const shape = this.#slots[i].param.shape;
      record[`state.${i}.exp_avg`] = { dtype: "F32", shape, data: st.expAvg };
      record[`state.${i}.exp_avg_sq`] = { dtype: "F32", shape, data: st.expAvgSq };
      record[`state.${i}.step`] = { dtype: "F64", shape: [1], data: [st.step] };
    });
    return record;
  }

  /**
   * Restores state saved by {@linkcode AdamW.state} or {@linkcode AdamW.stateDict}
   * (uploads; no submit).
   *
   * @param state Per-parameter states, or a record with the `stateDict` keys.
   * @throws {ShapeError} naming the key or index whose size does not match its parameter.
   */
  loadState(
    state: readonly AdamWParamState[] | Record<string, { data: ArrayLike<number> | BigInt64Array }>,
  ): void {
    const list: AdamWParamState[] = Array.isArray(state) ? [...state] : this.#slots.map((_, i) => {
      const rec = state as Record<string, { data: ArrayLike<number> | BigInt64Array }>;
      const get = (k: string) => {
        const e = rec[`state.${i}.${k}`];
        if (!e) throw new ShapeError("AdamW.loadState", `missing key "state.${i}.${k}"`);
        return Float32Array.from(e.data as ArrayLike<number>);
      };
      return { step: get("step")[0], expAvg: get("exp_avg"), expAvgSq: get("exp_avg_sq") };
    });
    if (list.length !== this.#slots.length) {
      throw new ShapeError(
        "AdamW.loadState",
        `state has ${list.length} entries for ${this.#slots.length} parameters`,
      );
    }
    list.forEach((st, i) => {
      const s = this.#slots[i];
      for (const [name, a] of [["exp_avg", st.expAvg], ["exp_avg_sq", st.expAvgSq]] as const) {
        if (a.length !== s.param.size) {
          throw new ShapeError(
            "AdamW.loadState",
            `state.${i}.${name} has ${a.length} values for parameter ${s.param.label ?? i} ${
              formatShape(s.param.shape)
            }`,
          );
        }
      }
    });
    list.forEach((st, i) => {
      const s = this.#slots[i];
      s.m?.dispose();
      s.v?.dispose();
      s.m = this.engine.keep(this.engine.tensor(st.expAvg, s.param.shape));
      s.v = this.engine.keep(this.engine.tensor(st.expAvgSq, s.param.shape));
      s.step = st.step;
    });
  }

  /** Frees the moment buffers. */
  dispose(): void {
    for (const s of this.#slots) {
      s.m?.dispose();
      s.v?.dispose();
      s.m = s.v = null;
    }
  }
}

/** {@linkcode AdamWKernelOptions} with the defaults filled in. */
interface KernelShape {
  vec: 1 | 4;
  per: number;
  wg: number;
  normPer: number;
}

function kernelShape(op: string, options: AdamWKernelOptions = {}): KernelShape {
  const {
    vectorWidth = 4,
    vectorsPerInvocation = 1,
    workgroupSize = 256,
    normVectorsPerInvocation = 16,
  } = options;
  if (vectorWidth !== 1 && vectorWidth !== 4) {
    throw new RangeError(`${op}: kernel.vectorWidth must be 1 or 4, got ${vectorWidth}`);
  }
  for (
    const [name, value, max] of [
      ["vectorsPerInvocation", vectorsPerInvocation, 64],
      ["workgroupSize", workgroupSize, 1024],
      ["normVectorsPerInvocation", normVectorsPerInvocation, 4096],
    ] as const
  ) {
    if (!(Number.isInteger(value) && value >= 1 && value <= max)) {
      throw new RangeError(`${op}: kernel.${name} must be an integer in [1, ${max}], got ${value}`);
    }
  }
  return {
    vec: vectorWidth,
    per: vectorsPerInvocation,
    wg: workgroupSize,
    normPer: normVectorsPerInvocation,
  };
}

/** One dispatch's share of a tensor: `count` elements of `width` floats from element `start`. */
interface Part {
  width: 1 | 4;
  count: number;
  start: number;
}

/**
 * How the kernels cover `n` elements: `vec4` whole vec4s (when `vec` is 4) and a scalar tail
 * from the first element they leave, as one dispatch each (empty parts left out).
 */
function parts(n: number, vec: 1 | 4): Part[] {
  const vectors = vec === 4 ? Math.floor(n / 4) : 0;
  const out: Part[] = [];
  if (vectors > 0) out.push({ width: 4, count: vectors, start: 0 });
  if (vectors * 4 < n) out.push({ width: 1, count: n - vectors * 4, start: vectors * 4 });
  return out;
}

/** The binding of `t` for a part: its first `count` vec4s, or the whole buffer as scalars. */
function bindPart(t: Tensor, part: Part, op: string): Bindable | Tensor {
  return part.width === 4 ? vec4Range(t, part.count, op) : t;
}

/** A tensor's first `vectors` vec4 as a binding (its buffer may be longer). */
function vec4Range(t: Tensor, vectors: number, op: string): Bindable {
  return { buffer: t.storageFor(op).buffer, offset: 0, size: vectors * 16 };
}

function arrayType(vec: 1 | 4): string {
  return vec === 4 ? "array<vec4<f32>>" : "array<f32>";
}

/**
 * The fused AdamW update on `vec`-wide elements, `per` vectors per invocation, grid-strided.
 * Params: n (vectors), clip?, start (first vector), decay = 1 − lr·wd, β1, 1 − β1, β2,
 * 1 − β2, lr/bc1, √bc2, ε.
 */
function updateKernel(engine: Engine, vec: 1 | 4, per: number, wg: number): Kernel {
  const key = `nn.adamw.v${vec}x${per}.wg${wg}`;
  const type = arrayType(vec);
  return engine.kernel(() => ({
    key,
    bindings: [
      { name: "p", access: "read_write", type },
      { name: "g", type },
      { name: "m", access: "read_write", type },
      { name: "v", access: "read_write", type },
      { name: "clip" },
    ],
    code: /* wgsl */ `
// Invocation j updates vectors j + k·stride (k < ${per}, stride = invocations of the grid) of
// ${vec} element(s): PyTorch's AdamW update in its order of operations, component-wise.
// Every uniform value is read before the bounds check: inside a branch lavapipe would load
// it lane by lane instead of once per SIMD batch.
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = pu(0u);
  let clipped = pu(1u) != 0u;
  let scale = clip[1];
  let start = pu(2u);
  let decay = pf(3u);
  let beta1 = pf(4u);
  let oneMinusBeta1 = pf(5u);
  let beta2 = pf(6u);
  let oneMinusBeta2 = pf(7u);
  let negStepSize = -pf(8u);
  let sqrtBc2 = pf(9u);
  let eps = pf(10u);
  let j0 = lin(gid, nwg, ${wg}u);
  let stride = nwg.x * nwg.y * ${wg}u;
  for (var k = 0u; k < ${per}u; k++) {
    let j = j0 + k * stride;
    if (j < n) {
      let i = start + j;
      var grad = g[i];
      if (clipped) { grad = grad * scale; }
      let param = p[i] * decay;
      let ma = m[i] * beta1 + grad * oneMinusBeta1;
      let va = v[i] * beta2 + oneMinusBeta2 * grad * grad;
      let denom = sqrt(va) / sqrtBc2 + eps;
      m[i] = ma;
      v[i] = va;
      p[i] = param + negStepSize * (ma / denom);
    }
  }
}`,
  }), key);
}

/**
 * Partial sums of g² of `vec`-wide elements, `per` consecutive vectors per invocation, each
 * written to its own slot (no float atomics, no workgroup memory, no barrier).
 * Params: n (vectors), slot0, start (first vector).
 */
function sqsumKernel(engine: Engine, vec: 1 | 4, per: number, wg: number): Kernel {
  const key = `nn.grad_sqsum.v${vec}x${per}.wg${wg}`;
  return engine.kernel(() => ({
    key,
    bindings: [{ name: "g", type: arrayType(vec) }, { name: "out", access: "read_write" }],
    code: /* wgsl */ `
// Invocation j sums x² over vectors [j·${per}, (j + 1)·${per}) ∩ [0, n) from \`start\` and
// writes out[slot0 + j] (invocations past the end write nothing).
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = pu(0u);
  let slot0 = pu(1u);
  let start = pu(2u);
  let j = lin(gid, nwg, ${wg}u);
  let i0 = j * ${per}u;
  let i1 = min(n, i0 + ${per}u);
  var s = ${vec === 4 ? "vec4<f32>(0.0)" : "0.0"};
  for (var i = i0; i < i1; i++) { let x = g[start + i]; s += x * x; }
  if (i0 < n) { out[slot0 + j] = ${vec === 4 ? "(s.x + s.y) + (s.z + s.w)" : "s"}; }
}`,
  }), key);
}

/** In-place `g ← g·coef[1]` on `vec`-wide elements. Params: n (vectors), start. */
function scaleKernel(engine: Engine, vec: 1 | 4, per: number, wg: number): Kernel {
  const key = `nn.grad_scale.v${vec}x${per}.wg${wg}`;
  return engine.kernel(() => ({
    key,
    bindings: [{ name: "g", access: "read_write", type: arrayType(vec) }, { name: "coef" }],
    code: /* wgsl */ `
// Invocation j scales vectors j + k·stride (k < ${per}); the factor is read before the branch.
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = pu(0u);
  let start = pu(1u);
  let c = coef[1];
  let j0 = lin(gid, nwg, ${wg}u);
  let stride = nwg.x * nwg.y * ${wg}u;
  for (var k = 0u; k < ${per}u; k++) {
    let j = j0 + k * stride;
    if (j < n) { g[start + j] = g[start + j] * c; }
  }
}`,
  }), key);
}

/**
 * `[‖g‖₂ over all gradients, min(1, maxNorm/(‖g‖ + 1e-6))]` on the GPU (a `[2]` tensor):
 * per gradient one partial-sum dispatch over its vec4 body (and one over a 1–3 element
 * scalar tail), each invocation writing its own slot, then one combining dispatch (no float
 * atomics, no readback).
 */
function gradNormCoefficient(
  engine: Engine,
  grads: readonly Tensor[],
  maxNorm: number,
  shape: KernelShape,
): Tensor {
  const { vec, normPer: per, wg } = shape;
  // Slots: one per invocation of each dispatch that does work.
  const work = grads.map((g) => parts(g.size, vec));
  const used = work.flat().reduce((a, part) => a + Math.ceil(part.count / per), 0);
  const slots = Math.max(1, used);
  const partials = engine.empty([slots]);
  if (used === 0) engine.fill(partials, 0);
  let slot0 = 0;
  grads.forEach((g, i) => {
    for (const part of work[i]) {
      const invocations = Math.ceil(part.count / per);
      engine.dispatch({
        kernel: sqsumKernel(engine, part.width, per, wg),
        bindings: [bindPart(g, part, "clipGradNorm"), partials],
        params: [part.count, slot0, part.start],
        workgroups: grid1d(invocations, wg),
        op: "clipGradNorm",
      });
      slot0 += invocations;
    }
  });
  const out = engine.empty([2]);
  const fin = engine.kernel(() => ({
    key: "nn.grad_clip_coef",
    bindings: [{ name: "part" }, { name: "out", access: "read_write" }],
    code: /* wgsl */ `
var<workgroup> red: array<f32, ${NORM_WG}>;
// One workgroup: total = √(Σ partial sums of g²), then min(1, max/(total + 1e-6)).
@compute @workgroup_size(${NORM_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let n = pu(0u);
  let maxNorm = pf(1u);
  var s = 0.0;
  for (var i = lid.x; i < n; i += ${NORM_WG}u) { s += part[i]; }
  red[lid.x] = s;
  workgroupBarrier();
  for (var w = ${NORM_WG / 2}u; w > 0u; w = w / 2u) {
    if (lid.x < w) { red[lid.x] += red[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let total = sqrt(red[0]);
    out[0] = total;
    out[1] = min(maxNorm / (total + 1e-6), 1.0);
  }
}`,
  }), "nn.grad_clip_coef");
  engine.dispatch({
    kernel: fin,
    bindings: [partials, out],
    params: new Words().u(slots).f(maxNorm).words,
    workgroups: [1],
    op: "clipGradNorm",
  });
  partials.dispose();
  return out;
}

/**
 * Scales every gradient in place so that their global L2 norm is at most `maxNorm`, as
 * `torch.nn.utils.clip_grad_norm_` (factor `min(1, maxNorm/(‖g‖ + 1e-6))`), on the GPU
 * without readback.
 *
 * @param params Parameters whose `.grad` is clipped (those without one are skipped).
 * @param maxNorm The threshold.
 * @param kernel Kernel shape (as {@linkcode AdamWOptions.kernel}; defaults measured on lavapipe).
 * @returns The total norm before clipping, a scalar tensor (read it only if needed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clipGradNorm, Engine, mul, sum } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const w = engine.parameter([3, 4], [2], "w");
 * sum(mul(w, engine.tensor([1, 1], [2]))).backward(); // grad [1, 1]
 * const total = clipGradNorm([w], 1);
 * assert.ok(Math.abs((await total.read())[0] - Math.SQRT2) < 1e-6); // the norm before clipping
 * (await w.grad!.read()).forEach((g) => assert.ok(Math.abs(g - Math.SQRT1_2) < 1e-5));
 * await engine.close();
 * ```
 */
export function clipGradNorm(
  params: readonly Tensor[],
  maxNorm: number,
  kernel: AdamWKernelOptions = {},
): Tensor {
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const shape = kernelShape("clipGradNorm", kernel);
  const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
  if (grads.length === 0) throw new TensorError("clipGradNorm", "no parameter has a gradient");
  const engine = grads[0].engine;
  const coef = gradNormCoefficient(engine, grads, maxNorm, shape);
  for (const g of grads) {
    for (const part of parts(g.size, shape.vec)) {
      engine.dispatch({
        kernel: scaleKernel(engine, part.width, shape.per, shape.wg),
        bindings: [bindPart(g, part, "clipGradNorm"), coef],
        params: [part.count, part.start],
        workgroups: grid1d(Math.ceil(part.count / shape.per), shape.wg),
        op: "clipGradNorm",
      });
    }
  }
  const total = engine.view(coef, [2]);
  coef.dispose();
  return viewFirst(engine, total);
}

/** A `[]` tensor of element 0 of a `[2]` tensor (copy; disposes the input). */
function viewFirst(engine: Engine, t: Tensor): Tensor {
  const out = engine.empty([]);
  engine.commandEncoder().copyBufferToBuffer(t.buffer, 0, out.buffer, 0, 4);
  t.dispose();
  return out;
}
