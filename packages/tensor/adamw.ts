/**
 * AdamW with PyTorch's exact update (`torch.optim.AdamW`, amsgrad off), optional gradient
 * clipping by global norm, and optimizer state save/load. Every update is recorded into the
 * engine's pending command encoder (one fused `vec4` kernel per parameter, plus a scalar one
 * for the last 1–3 elements of a size that is not a multiple of 4), with no readback.
 *
 * @module
 */

import type { Engine, Kernel } from "./engine.ts";
import type { Tensor } from "./tensor.ts";
import { formatShape, ShapeError, TensorError } from "./tensor_errors.ts";
import { sameShape } from "./ops/_shape.ts";
import type { SafetensorsInput } from "./safetensors.ts";
import {
  type AdamWKernelOptions,
  arrayType,
  bindPart,
  type KernelShape,
  kernelShape,
  parts,
} from "./_vector_parts.ts";
import { gradNormCoefficient } from "./grad_norm.ts";

export type { AdamWKernelOptions } from "./_vector_parts.ts";

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
      if (!sameShape(p.grad!.shape, p.shape)) {
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
      const clip = coef ?? g;
      for (const part of parts(p.size, shape.vec)) {
        engine.dispatch({
          kernel: updateKernel(engine, part.width, shape.per, shape.wg),
          bindings: [p, g, s.m, s.v!].map((t) => bindPart(t, part, "AdamW.step")).concat(clip),
          params: {
            n: part.count,
            clipped: coef ? 1 : 0,
            start: part.start,
            decay: 1 - this.lr * s.weightDecay,
            beta1: b1,
            oneMinusBeta1: 1 - b1,
            beta2: b2,
            oneMinusBeta2: 1 - b2,
            stepSize: this.lr / bc1,
            sqrtBc2: Math.sqrt(bc2),
            eps: this.eps,
          },
          workgroups: engine.grid(Math.ceil(part.count / shape.per), shape.wg),
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

/**
 * Params of the update: n (vectors), whether the gradient is clipped, start (first vector),
 * decay = 1 − lr·wd, β1, 1 − β1, β2, 1 − β2, the step size lr/bc1, √bc2, ε.
 */
const UPDATE_PARAMS = {
  n: "u32",
  clipped: "u32",
  start: "u32",
  decay: "f32",
  beta1: "f32",
  oneMinusBeta1: "f32",
  beta2: "f32",
  oneMinusBeta2: "f32",
  stepSize: "f32",
  sqrtBc2: "f32",
  eps: "f32",
} as const;

/**
 * The fused AdamW update on `vec`-wide elements, `per` vectors per invocation, grid-strided.
 */
function updateKernel(
  engine: Engine,
  vec: 1 | 4,
  per: number,
  wg: number,
): Kernel<typeof UPDATE_PARAMS> {
  const key = `nn.adamw.v${vec}x${per}.wg${wg}`;
  const type = arrayType(vec);
  return engine.kernel(key, () => ({
    params: UPDATE_PARAMS,
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
  let n = params.n;
  let clipped = params.clipped != 0u;
  let scale = clip[1];
  let start = params.start;
  let decay = params.decay;
  let beta1 = params.beta1;
  let oneMinusBeta1 = params.oneMinusBeta1;
  let beta2 = params.beta2;
  let oneMinusBeta2 = params.oneMinusBeta2;
  let negStepSize = -params.stepSize;
  let sqrtBc2 = params.sqrtBc2;
  let eps = params.eps;
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
  }));
}
