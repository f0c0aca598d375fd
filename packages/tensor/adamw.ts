/**
 * AdamW with PyTorch's exact update (`torch.optim.AdamW`, amsgrad off), optional gradient
 * clipping by global norm, and optimizer state save/load. Every update is recorded into the
 * engine's pending command encoder (one fused kernel per parameter), with no readback.
 *
 * @module
 */

import { type Engine, grid1d } from "./engine.ts";
import type { Tensor } from "./tensor.ts";
import { formatShape, ShapeError, TensorError } from "./tensor_errors.ts";
import { Words } from "./_nn_util.ts";
import type { SafetensorsInput } from "./safetensors.ts";

const WG = 256;
const NORM_WG = 64;
/** Gradient elements per workgroup of the norm kernel (32 per invocation). */
const NORM_SPAN = NORM_WG * 32;

/** A group of parameters sharing a weight decay (PyTorch's param groups). */
export interface ParamGroup {
  /** The parameters (leaf tensors that require grad). */
  params: readonly Tensor[];
  /** Weight decay of this group (default: the optimizer's). */
  weightDecay?: number;
}

/** Options of {@linkcode AdamW}. Defaults are VM-UNet's config (SPEC §4). */
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
 * console.log(await w.read()); // both entries moved towards 0
 * engine.destroy();
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

  /**
   * Creates the optimizer (state is allocated at the first step of each parameter).
   *
   * @param params Parameters, or groups with their own weight decay.
   * @param options Hyper-parameters.
   * @throws {RangeError} for invalid hyper-parameters; {@linkcode TensorError} for an empty
   *   list, a parameter listed twice or one that is not f32.
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
    let coef: Tensor | null = null;
    if (this.maxGradNorm !== undefined) {
      coef = gradNormCoefficient(engine, active.map((s) => s.param.grad!), this.maxGradNorm);
    }
    const [b1, b2] = this.betas;
    for (const s of active) {
      const p = s.param, g = p.grad!;
      if (g.shape.join() !== p.shape.join()) {
        throw new ShapeError(
          "AdamW.step",
          `gradient ${formatShape(g.shape)} of parameter ${p.label ?? ""} ${formatShape(p.shape)}`,
        );
      }
      if (!s.m) {
        s.m = engine.keep(engine.zeros(p.shape));
        s.v = engine.keep(engine.zeros(p.shape));
      }
      s.step++;
      const bc1 = 1 - b1 ** s.step;
      const bc2 = 1 - b2 ** s.step;
      const words = new Words()
        .u(p.size, coef ? 1 : 0)
        .f(
          1 - this.lr * s.weightDecay,
          b1,
          1 - b1,
          b2,
          1 - b2,
          this.lr / bc1,
          Math.sqrt(bc2),
          this.eps,
        )
        .words;
      if (p.size === 0) continue;
      engine.dispatch({
        kernel: adamwKernel(engine),
        bindings: [p, g, s.m, s.v!, coef ?? g],
        params: words,
        workgroups: grid1d(p.size, WG),
        op: "AdamW.step",
      });
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

function adamwKernel(engine: Engine) {
  return engine.kernel(() => ({
    key: "nn.adamw",
    bindings: [
      { name: "p", access: "read_write" },
      { name: "g" },
      { name: "m", access: "read_write" },
      { name: "v", access: "read_write" },
      { name: "clip" },
    ],
    code: /* wgsl */ `
// One invocation per element: PyTorch's AdamW update in its order of operations.
// params: n, clip?, decay = 1 − lr·wd, β1, 1 − β1, β2, 1 − β2, lr/bc1, √bc2, ε.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  if (i >= pu(0u)) { return; }
  var grad = g[i];
  if (pu(1u) != 0u) { grad = grad * clip[1]; }
  let param = p[i] * pf(2u);
  let ma = m[i] * pf(3u) + grad * pf(4u);
  let va = v[i] * pf(5u) + pf(6u) * grad * grad;
  let denom = sqrt(va) / pf(8u) + pf(9u);
  m[i] = ma;
  v[i] = va;
  p[i] = param + (-pf(7u)) * (ma / denom);
}`,
  }), "nn.adamw");
}

/**
 * `[‖g‖₂ over all gradients, min(1, maxNorm/(‖g‖ + 1e-6))]` on the GPU (a `[2]` tensor):
 * one sum-of-squares dispatch per gradient (a workgroup per span of 2048 elements, each
 * writing its own slot), then one combining dispatch (no float atomics, no readback).
 */
function gradNormCoefficient(engine: Engine, grads: readonly Tensor[], maxNorm: number): Tensor {
  // Partial sums of g²: one slot per workgroup of every gradient (no float atomics).
  const spans = grads.map((g) => Math.max(1, Math.ceil(g.size / NORM_SPAN)));
  const slots = spans.reduce((a, b) => a + b, 0);
  const partials = engine.empty([slots]);
  const sq = engine.kernel(() => ({
    key: "nn.grad_sqsum",
    bindings: [{ name: "g" }, { name: "out", access: "read_write" }],
    code: /* wgsl */ `
var<workgroup> red: array<f32, ${NORM_WG}>;
// One workgroup per span of ${NORM_SPAN} elements of one gradient: strided sums of g² and a
// tree reduction; the span's sum goes to out[slot0 + workgroup].
@compute @workgroup_size(${NORM_WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = pu(0u);
  let span = wid.x + wid.y * nwg.x;
  let i1 = min(n, (span + 1u) * ${NORM_SPAN}u);
  var s = 0.0;
  for (var i = span * ${NORM_SPAN}u + lid.x; i < i1; i += ${NORM_WG}u) { let x = g[i]; s += x * x; }
  red[lid.x] = s;
  workgroupBarrier();
  for (var w = ${NORM_WG / 2}u; w > 0u; w = w / 2u) {
    if (lid.x < w) { red[lid.x] += red[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { out[pu(1u) + span] = red[0]; }
}`,
  }), "nn.grad_sqsum");
  let slot0 = 0;
  grads.forEach((g, i) => {
    const x = Math.min(spans[i], 65535);
    engine.dispatch({
      kernel: sq,
      bindings: [g, partials],
      params: [g.size, slot0],
      workgroups: [x, Math.ceil(spans[i] / x)],
      op: "clipGradNorm",
    });
    slot0 += spans[i];
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
  var s = 0.0;
  for (var i = lid.x; i < pu(0u); i += ${NORM_WG}u) { s += part[i]; }
  red[lid.x] = s;
  workgroupBarrier();
  for (var w = ${NORM_WG / 2}u; w > 0u; w = w / 2u) {
    if (lid.x < w) { red[lid.x] += red[lid.x + w]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let total = sqrt(red[0]);
    out[0] = total;
    out[1] = min(pf(1u) / (total + 1e-6), 1.0);
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
 * @returns The total norm before clipping, a scalar tensor (read it only if needed).
 *
 * @example
 * ```ts
 * import { clipGradNorm, Engine, mul, sum } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const w = engine.parameter([3, 4], [2], "w");
 * sum(mul(w, engine.tensor([1, 1], [2]))).backward(); // grad [1, 1]
 * const total = clipGradNorm([w], 1);
 * console.log(await total.read(), await w.grad!.read()); // [√2], [0.7071, 0.7071]
 * engine.destroy();
 * ```
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
  if (grads.length === 0) throw new TensorError("clipGradNorm", "no parameter has a gradient");
  const engine = grads[0].engine;
  const coef = gradNormCoefficient(engine, grads, maxNorm);
  const scale = engine.kernel(() => ({
    key: "nn.grad_scale",
    bindings: [{ name: "g", access: "read_write" }, { name: "coef" }],
    code: /* wgsl */ `
// One invocation per element: g ← g·coef[1].
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  if (i < pu(0u)) { g[i] = g[i] * coef[1]; }
}`,
  }), "nn.grad_scale");
  for (const g of grads) {
    if (g.size === 0) continue;
    engine.dispatch({
      kernel: scale,
      bindings: [g, coef],
      params: [g.size],
      workgroups: grid1d(g.size, WG),
      op: "clipGradNorm",
    });
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
