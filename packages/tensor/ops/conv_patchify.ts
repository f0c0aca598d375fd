/**
 * The patchify convolution of the patch embedding (kernel = stride = k, no padding), NCHW
 * in, channels-last out, forward and backward. By default it runs as a layout change plus
 * the engine's tuned `linear` (its backward from autograd), measured 2–4× faster than the
 * direct kernels on lavapipe; the direct kernels stay selectable with `convConfig` and
 * serve the cases where H or W is not a multiple of k.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { ShapeError } from "../tensor_errors.ts";
import { linear } from "./matmul.ts";
import { permute, reshape } from "./layout.ts";
import { expectRank, expectShape } from "../_nn_util.ts";
import { checkConvArgs, convConfig, directConv } from "./_conv.ts";

/** Params of the patchify kernels. */
const DIMS = {
  B: "u32",
  Ci: "u32",
  H: "u32",
  W: "u32",
  Co: "u32",
  k: "u32",
  Ho: "u32",
  Wo: "u32",
} as const;

/**
 * Patchify convolution (kernel = stride = k, no padding: the patch embedding) from NCHW
 * input to channels-last output: `y[b,h,w,o] = bias[o] + Σ_{c,p,q} weight[o,c,p,q]·
 * x[b,c,k·h+p,k·w+q]`, output `(B, ⌊H/k⌋, ⌊W/k⌋, Cout)` (leftover rows/columns are
 * dropped, as PyTorch).
 *
 * @param x Input `(B, Cin, H, W)`.
 * @param weight `(Cout, Cin, k, k)`.
 * @param bias `(Cout)`.
 * @returns `(B, ⌊H/k⌋, ⌊W/k⌋, Cout)`.
 * @throws {ShapeError} naming the shapes when they do not fit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, patchifyConv } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const x = engine.tensor([1, 2, 3, 4], [1, 1, 2, 2]);
 * const y = patchifyConv(x, engine.tensor([1, 1, 1, 1], [1, 1, 2, 2]), engine.tensor([0], [1]));
 * assert.deepEqual(y.shape, [1, 1, 1, 1]);
 * assert.deepEqual(Array.from(await y.read()), [10]);
 * engine.destroy();
 * ```
 */
export function patchifyConv(x: Tensor, weight: Tensor, bias: Tensor): Tensor {
  const op = "patchifyConv";
  checkConvArgs(op, x, weight, bias);
  expectRank(op, "x", x, 4, "NCHW (B, Cin, H, W)");
  expectRank(op, "weight", weight, 4, "(Cout, Cin, k, k)");
  const [B, Ci, H, W] = x.shape;
  const [Co, wCi, k, k2] = weight.shape;
  if (wCi !== Ci || k !== k2 || k < 1 || k > H || k > W) {
    throw new ShapeError(
      op,
      `weight [${weight.shape.join(", ")}] must be (Cout, ${Ci}, k, k) with 1 ≤ k ≤ min(H, W) ` +
        `for x [${x.shape.join(", ")}]`,
    );
  }
  expectShape(op, "bias", bias, [Co]);
  const Ho = Math.floor(H / k), Wo = Math.floor(W / k);
  if (convConfig.variant === "matmul" && Ho * k === H && Wo * k === W && B * Ho * Wo > 0) {
    // Patches as rows: (B, Cin, Ho, k, Wo, k) → (B, Ho, Wo, Cin, k, k) → (B, Ho, Wo, Cin·k·k).
    const patches = reshape(
      permute(reshape(x, [B, Ci, Ho, k, Wo, k]), [0, 2, 4, 1, 3, 5]),
      [B, Ho, Wo, Ci * k * k],
    );
    return linear(patches, reshape(weight, [Co, Ci * k * k]), bias);
  }
  return directConv(x, weight, bias, {
    op,
    key: "nn.patchify",
    params: DIMS,
    values: { B, Ci, H, W, Co, k, Ho, Wo },
    yShape: [B, Ho, Wo, Co],
    positions: B * Ho * Wo,
    forward: {
      body: /* wgsl */ `
  // One invocation per output (b, h, w, o): the dot product of patch (h, w) with filter o.
  if (i >= B * Ho * Wo * Co) { return; }
  let o = i % Co; let pix = i / Co; let w = pix % Wo; let h = (pix / Wo) % Ho; let b = pix / (Wo * Ho);
  var s = bias[o];
  for (var c = 0u; c < Ci; c++) {
    for (var p = 0u; p < k; p++) {
      let xrow = ((b * Ci + c) * H + h * k + p) * W + w * k;
      let wrow = ((o * Ci + c) * k + p) * k;
      for (var q = 0u; q < k; q++) { s += w_at(wrow + q) * x[xrow + q]; }
    }
  }
  y[i] = s;`,
      extra: "fn w_at(i: u32) -> f32 { return w[i]; }",
    },
    inputGrad: {
      body: /* wgsl */ `
  // One invocation per input element (b, c, row, col): each lies in exactly one patch (or in
  // the cropped border, gradient 0): dx = Σ_o gy[b, row/k, col/k, o]·w[o, c, row%k, col%k].
  if (i >= B * Ci * H * W) { return; }
  let col = i % W; let row = (i / W) % H; let c = (i / (W * H)) % Ci; let b = i / (W * H * Ci);
  let h = row / k; let w = col / k;
  var s = 0.0;
  if (h < Ho && w < Wo) {
    let g0 = ((b * Ho + h) * Wo + w) * Co;
    let wi = (c * k + row % k) * k + col % k;
    for (var o = 0u; o < Co; o++) { s += gy[g0 + o] * w_(o * Ci * k * k + wi); }
  }
  dx[i] = s;`,
      extra: "fn w_(i: u32) -> f32 { return w[i]; }",
    },
    weightGrad: /* wgsl */ `
  // One invocation per (patch chunk, weight element j < Co·K | bias o): partial Σ over the
  // chunk's patches of gy[patch, o]·x[patch element] (or of gy for the bias).
  let K = Ci * k * k; let cols = Co * K + Co;
  if (i >= chunks * cols) { return; }
  let chunk = i / cols; let j = i % cols;
  let p1 = min(B * Ho * Wo, (chunk + 1u) * per);
  var s = 0.0;
  if (j < Co * K) {
    let o = j / K; let r = j % K; let c = r / (k * k); let pp = (r / k) % k; let q = r % k;
    for (var pt = chunk * per; pt < p1; pt++) {
      let w = pt % Wo; let h = (pt / Wo) % Ho; let b = pt / (Wo * Ho);
      s += gy[pt * Co + o] * x[((b * Ci + c) * H + h * k + pp) * W + w * k + q];
    }
  } else {
    let o = j - Co * K;
    for (var pt = chunk * per; pt < p1; pt++) { s += gy[pt * Co + o]; }
  }
  part[i] = s;`,
  });
}
