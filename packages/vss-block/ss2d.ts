/**
 * SS2D, the 2D selective-scan mixer of a VSS block (docs/spec.md §3), channels-last throughout:
 * in_proj → depthwise 3×3 conv + SiLU → one x-projection matmul for the four directions
 * over the natural layout → dt projection fused with the four-direction cross-scan
 * (index-mapped, merge fused) → LayerNorm · SiLU(z) → out_proj. No flipped or transposed copies of `(B,4,Di,L)`.
 *
 * @module
 */

import {
  depthwiseConv3x3Silu,
  initUniform,
  linear,
  negExp,
  reshape,
  type Tensor,
} from "@vmunet/tensor";
import { initALogs, initDs, initDtProjsBias, initDtProjsWeight } from "./mamba_init.ts";
import { ss2dScan } from "./cross_scan_op.ts";
import { gatedNorm } from "./gated_norm.ts";
import { BaseModule, type ParameterFactory } from "./module.ts";
import { splitRows } from "./split_rows.ts";
import { expectChannelsLast } from "./_checks.ts";

/** Options of {@linkcode SS2D}. */
export interface SS2DOptions {
  /** Block width C (`d_model`). */
  dModel: number;
  /** SSM state size N (default 16). */
  dState?: number;
}

/** The SS2D sizes for width C: `Di = 2C`, `R = ceil(C/16)`, N. */
export function ss2dDims(dModel: number, dState: number = 16): {
  dInner: number;
  dtRank: number;
  dState: number;
} {
  return { dInner: 2 * dModel, dtRank: Math.ceil(dModel / 16), dState };
}

/**
 * SS2D with the official parameters (`in_proj.weight (2Di, C)`, `conv2d.weight (Di,1,3,3)`,
 * `conv2d.bias`, `x_proj_weight (4, R+2N, Di)`, `dt_projs_weight (4, Di, R)`,
 * `dt_projs_bias (4, Di)`, `A_logs (4Di, N)`, `Ds (4Di)`, `out_norm.{weight,bias}`,
 * `out_proj.weight (C, Di)`) and the official initialisation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, Rng } from "@vmunet/tensor";
 * import { ParameterFactory, SS2D } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const ss2d = new SS2D(new ParameterFactory(engine, new Rng(0)), { dModel: 8, dState: 4 });
 * const y = ss2d.forward(engine.full([1, 4, 4, 8], 0.5));
 * assert.deepEqual(y.shape, [1, 4, 4, 8]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 */
export class SS2D extends BaseModule {
  /** Width C. */
  readonly dModel: number;
  /** Inner width Di = 2C. */
  readonly dInner: number;
  /** dt rank R = ceil(C/16). */
  readonly dtRank: number;
  /** State size N. */
  readonly dState: number;
  /** `in_proj.weight (2Di, C)`, no bias. */
  readonly inProjWeight: Tensor;
  /** `conv2d.weight (Di, 1, 3, 3)` (depthwise). */
  readonly conv2dWeight: Tensor;
  /** `conv2d.bias (Di)`. */
  readonly conv2dBias: Tensor;
  /** `x_proj_weight (4, R + 2N, Di)`. */
  readonly xProjWeight: Tensor;
  /** `dt_projs_weight (4, Di, R)`. */
  readonly dtProjsWeight: Tensor;
  /** `dt_projs_bias (4, Di)`. */
  readonly dtProjsBias: Tensor;
  /** `A_logs (4·Di, N)`. */
  readonly aLogs: Tensor;
  /** `Ds (4·Di)`. */
  readonly ds: Tensor;
  /** `out_norm.weight (Di)`. */
  readonly outNormWeight: Tensor;
  /** `out_norm.bias (Di)`. */
  readonly outNormBias: Tensor;
  /** `out_proj.weight (C, Di)`, no bias. */
  readonly outProjWeight: Tensor;

  /**
   * Creates the parameters with the official initialisation (docs/spec.md §5).
   *
   * @param f Parameter factory (engine, generator, label prefix).
   * @param options Width and state size.
   */
  constructor(f: ParameterFactory, options: SS2DOptions) {
    super(f);
    const c = options.dModel;
    if (!Number.isInteger(c) || c < 1) throw new RangeError(`SS2D: dModel must be > 0, got ${c}`);
    const { dInner: di, dtRank: r, dState: n } = ss2dDims(c, options.dState ?? 16);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`SS2D: dState must be > 0, got ${n}`);
    this.dModel = c;
    this.dInner = di;
    this.dtRank = r;
    this.dState = n;
    // The official state_dict order (SS2D's own parameters, then its sub-modules) is also
    // the order the initial values are drawn in.
    const rng = f.rng;
    const xb = 1 / Math.sqrt(di), xShape = [4, r + 2 * n, di];
    this.xProjWeight = this.parameter("x_proj_weight", initUniform(xShape, rng, -xb, xb), xShape);
    const dtShape = [4, di, r];
    this.dtProjsWeight = this.parameter(
      "dt_projs_weight",
      initDtProjsWeight(dtShape, rng),
      dtShape,
    );
    this.dtProjsBias = this.parameter("dt_projs_bias", initDtProjsBias([4, di], rng), [4, di]);
    this.aLogs = this.parameter("A_logs", initALogs(4 * di, n), [4 * di, n]);
    this.ds = this.parameter("Ds", initDs(4 * di), [4 * di]);
    this.inProjWeight = this.linearWeight("in_proj", 2 * di, c);
    [this.conv2dWeight, this.conv2dBias] = this.conv2d("conv2d", [di, 1, 3, 3]);
    [this.outNormWeight, this.outNormBias] = this.layerNorm("out_norm", di);
    this.outProjWeight = this.linearWeight("out_proj", c, di);
  }

  /**
   * SS2D on a channels-last map (docs/spec.md §3.3 steps 1–8; the input is already
   * `ln_1`-normalised).
   *
   * @param x `(B, H, W, C)`.
   * @returns `(B, H, W, C)`.
   * @throws {ShapeError} when `x` is not `(B, H, W, C)` with this block's C.
   */
  forward(x: Tensor): Tensor {
    expectChannelsLast("SS2D", x, this.dModel);
    const [b, h, w] = x.shape;
    const di = this.dInner, r = this.dtRank, n = this.dState, p = r + 2 * n;
    // in_proj split by weight rows (two buffer copies): x and z come out contiguous, with
    // no slicing of the (B, H, W, 2Di) activations.
    const [wx, wz] = splitRows(this.inProjWeight, [di, di]);
    const xi = linear(x, wx);
    const z = linear(x, wz);
    const u = depthwiseConv3x3Silu(xi, this.conv2dWeight, this.conv2dBias); // conv2d + SiLU
    // The four x-projections as one matmul over natural positions: (B·L, Di)·(4·P, Di)ᵀ.
    const xDbl = reshape(linear(u, reshape(this.xProjWeight, [4 * p, di])), [b, h, w, 4, p]);
    const A = negExp(this.aLogs);
    // The dt projection per direction runs fused with the scan, on x_dbl's dt rows.
    const y = ss2dScan(
      u,
      xDbl,
      this.dtProjsWeight,
      A,
      this.ds,
      reshape(this.dtProjsBias, [4 * di]),
    );
    // out_norm(y) · silu(z) in one fused op (forward and backward).
    const gated = gatedNorm(y, z, this.outNormWeight, this.outNormBias, 1e-5);
    return linear(gated, this.outProjWeight);
  }
}
