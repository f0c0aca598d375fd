/**
 * The final 1×1 convolution of VM-UNet, channels-last in, NCHW out, forward and backward.
 * By default a `linear` plus a permute (its backward from autograd); the direct kernels stay
 * selectable with `convConfig`.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { linear } from "./matmul.ts";
import { permute, reshape } from "./layout.ts";
import { expectRank, expectShape } from "../_nn_util.ts";
import { checkConvArgs, convConfig, directConv } from "./_conv.ts";

/** Params of the 1×1 kernels. */
const DIMS = { B: "u32", P: "u32", Ci: "u32", Co: "u32" } as const;

/**
 * 1×1 convolution from channels-last input to NCHW output (VM-UNet's `final_conv` after
 * its permute): `y[b,o,h,w] = bias[o] + Σ_c weight[o,c,0,0]·x[b,h,w,c]`.
 *
 * @param x Input `(B, H, W, Cin)`.
 * @param weight `(Cout, Cin, 1, 1)`.
 * @param bias `(Cout)`.
 * @returns `(B, Cout, H, W)`.
 * @throws {ShapeError} naming the shapes when they do not fit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { conv1x1, Engine } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const x = engine.tensor([1, 2, 3, 4], [1, 1, 2, 2]); // (B, H, W, Cin) = (1, 1, 2, 2)
 * const y = conv1x1(x, engine.tensor([1, -1], [1, 2, 1, 1]), engine.tensor([0], [1]));
 * assert.deepEqual(y.shape, [1, 1, 1, 2]); // (B, Cout, H, W)
 * assert.deepEqual(Array.from(await y.read()), [-1, -1]);
 * engine.destroy();
 * ```
 */
export function conv1x1(x: Tensor, weight: Tensor, bias: Tensor): Tensor {
  const op = "conv1x1";
  checkConvArgs(op, x, weight, bias);
  expectRank(op, "x", x, 4, "channels-last (B, H, W, Cin)");
  const [B, H, W, Ci] = x.shape;
  expectRank(op, "weight", weight, 4, "(Cout, Cin, 1, 1)");
  const Co = weight.shape[0];
  expectShape(op, "weight", weight, [Co, Ci, 1, 1]);
  expectShape(op, "bias", bias, [Co]);
  if (convConfig.variant === "matmul" && x.size > 0 && Co > 0) {
    return permute(linear(x, reshape(weight, [Co, Ci]), bias), [0, 3, 1, 2]);
  }
  const P = H * W;
  return directConv(x, weight, bias, {
    op,
    key: "nn.conv1x1",
    params: DIMS,
    values: { B, P, Ci, Co },
    yShape: [B, Co, H, W],
    positions: B * P,
    forward: {
      body: /* wgsl */ `
  // One invocation per output (b, o, pixel): bias[o] + w[o, :]·x[b, pixel, :].
  if (i >= B * Co * P) { return; }
  let p = i % P; let o = (i / P) % Co; let b = i / (P * Co);
  var s = bias[o];
  let xr = (b * P + p) * Ci; let wr = o * Ci;
  for (var c = 0u; c < Ci; c++) { s += w[wr + c] * x[xr + c]; }
  y[i] = s;`,
    },
    inputGrad: {
      body: /* wgsl */ `
  // One invocation per input element (b, pixel, c): Σ_o gy[b, o, pixel]·w[o, c].
  if (i >= B * P * Ci) { return; }
  let c = i % Ci; let p = (i / Ci) % P; let b = i / (Ci * P);
  var s = 0.0;
  for (var o = 0u; o < Co; o++) { s += gy[(b * Co + o) * P + p] * w[o * Ci + c]; }
  dx[i] = s;`,
    },
    weightGrad: /* wgsl */ `
  // One invocation per (pixel chunk, weight element (o, c) | bias o): partial sums over the
  // chunk's pixels of gy[b, o, p]·x[b, p, c] (or of gy).
  let cols = Co * Ci + Co;
  if (i >= chunks * cols) { return; }
  let chunk = i / cols; let j = i % cols;
  let q1 = min(B * P, (chunk + 1u) * per);
  var s = 0.0;
  if (j < Co * Ci) {
    let o = j / Ci; let c = j % Ci;
    for (var q = chunk * per; q < q1; q++) {
      let b = q / P; let p = q % P;
      s += gy[(b * Co + o) * P + p] * x[q * Ci + c];
    }
  } else {
    let o = j - Co * Ci;
    for (var q = chunk * per; q < q1; q++) { s += gy[((q / P) * Co + o) * P + q % P]; }
  }
  part[i] = s;`,
  });
}
