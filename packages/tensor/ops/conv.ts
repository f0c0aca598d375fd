/**
 * The three convolutions of VM-UNet, forward and backward: the depthwise 3×3 conv of SS2D
 * (channels-last), the patchify conv of the patch embedding (NCHW in, channels-last out)
 * and the final 1×1 conv (channels-last in, NCHW out). Weights use PyTorch's Conv2d layout
 * so checkpoints load one to one. Weight/bias gradients are per-chunk partial sums plus a
 * reduction pass (WGSL has no float atomics).
 *
 * The patchify and 1×1 convs are matrix products: by default they run as a layout change
 * plus the engine's tuned `linear` (its backward comes from autograd), which measured 2–4×
 * faster than their direct kernels on lavapipe; the direct fused kernels stay selectable
 * with {@linkcode convConfig} (and serve the patchify conv when H or W is not a multiple of
 * k).
 *
 * @module
 */

import { grid1d } from "../engine.ts";
import type { Tensor } from "../tensor.ts";
import { ShapeError } from "../tensor_errors.ts";
import { linear } from "./matmul.ts";
import { permute, reshape } from "./layout.ts";
import { mapKernel, SILU_GRAD_EXPR } from "./_kernels.ts";
import {
  chunksOf,
  expectF32,
  expectRank,
  expectShape,
  sameEngineOf,
  sumRows,
} from "../_nn_util.ts";

/**
 * Implementation of {@linkcode patchifyConv} and {@linkcode conv1x1}: `"matmul"` (default)
 * = layout change + `linear`; `"direct"` = the fused conv kernels with their own backward.
 */
export const convConfig: { variant: "matmul" | "direct" } = { variant: "matmul" };

const WG = 64;
/** Output positions per partial sum of the weight/bias gradients. */
const POSITIONS_PER_CHUNK = 256;

/**
 * Depthwise 3×3 convolution, padding 1, with bias, on channels-last input (SS2D's
 * `conv2d`, groups = C): `y[b,h,w,c] = bias[c] + Σ_{i,j} weight[c,0,i,j]·x[b,h+i−1,w+j−1,c]`.
 *
 * @param x Input `(B, H, W, C)`.
 * @param weight `(C, 1, 3, 3)` (PyTorch layout).
 * @param bias `(C)`.
 * @returns `(B, H, W, C)`.
 * @throws {ShapeError} naming the shapes when they do not fit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { depthwiseConv3x3, Engine } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const x = engine.tensor([1, 2, 3, 4], [1, 2, 2, 1]);
 * const w = engine.tensor([0, 0, 0, 0, 1, 0, 0, 0, 0], [1, 1, 3, 3]); // centre tap
 * const y = depthwiseConv3x3(x, w, engine.tensor([0.5], [1]));
 * assert.deepEqual(Array.from(await y.read()), [1.5, 2.5, 3.5, 4.5]);
 * engine.destroy();
 * ```
 */
export function depthwiseConv3x3(x: Tensor, weight: Tensor, bias: Tensor): Tensor {
  return depthwise(x, weight, bias, false);
}

/**
 * `silu(depthwiseConv3x3(x, weight, bias))` (SS2D's conv + activation) with the SiLU in the
 * conv kernel: no separate activation pass forward; the backward applies SiLU's derivative
 * to the incoming gradient, then the conv's backward. Same numbers as the two ops.
 *
 * @param x Input `(B, H, W, C)`.
 * @param weight `(C, 1, 3, 3)` (PyTorch layout).
 * @param bias `(C)`.
 * @returns `(B, H, W, C)`.
 * @throws {ShapeError} naming the shapes when they do not fit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { depthwiseConv3x3Silu, Engine } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const x = engine.tensor([1, 2, 3, 4], [1, 2, 2, 1]);
 * const w = engine.tensor([0, 0, 0, 0, 1, 0, 0, 0, 0], [1, 1, 3, 3]); // centre tap
 * const y = depthwiseConv3x3Silu(x, w, engine.tensor([0], [1]));
 * const want = [1, 2, 3, 4].map((x) => x / (1 + Math.exp(-x))); // SiLU: ≈ [0.731, 1.762, 2.858, 3.928]
 * (await y.read()).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5));
 * engine.destroy();
 * ```
 */
export function depthwiseConv3x3Silu(x: Tensor, weight: Tensor, bias: Tensor): Tensor {
  return depthwise(x, weight, bias, true);
}

/** The depthwise conv, optionally followed by SiLU inside the kernel. */
function depthwise(x: Tensor, weight: Tensor, bias: Tensor, silu: boolean): Tensor {
  const op = silu ? "depthwiseConv3x3Silu" : "depthwiseConv3x3";
  sameEngineOf(op, x, weight, bias);
  expectF32(op, ["x", x], ["weight", weight], ["bias", bias]);
  expectRank(op, "x", x, 4, "channels-last (B, H, W, C)");
  const [B, H, W, C] = x.shape;
  expectShape(op, "weight", weight, [C, 1, 3, 3]);
  expectShape(op, "bias", bias, [C]);
  const engine = x.engine;
  const y = engine.empty(x.shape);
  const v = C % 4 === 0 ? 4 : 1;
  const n = C / v;
  const count = B * H * W * n;
  // Tap-major copy of the weight, (9, C), so a kernel loads 4 channels' tap with one vec4.
  const taps = engine.empty([9, C]);
  if (C > 0) {
    engine.dispatch({
      kernel: tapMajorKernel(engine),
      bindings: [weight, taps],
      params: [C],
      workgroups: grid1d(9 * C, WG),
      op,
    });
  }
  // With SiLU and the tape on, the pre-activation is kept for the backward.
  const keepPre = silu && engine.willRecord([x, weight, bias]);
  const pre = keepPre ? engine.empty(x.shape) : null;
  if (count > 0) dispatchDw(x, taps, bias, y, silu ? "fwd_silu" : "fwd", v, op, pre);
  engine.record(op, [x, weight, bias], [y], ([g]) => {
    if (!g || count === 0) return [null, null, null];
    const gy = pre ? mapKernel(engine, `${op}.backward`, SILU_GRAD_EXPR, [pre, g]) : g;
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = engine.empty(x.shape);
      dispatchDw(gy, taps, bias, dx, "bwd", v, `${op}.backward`);
    }
    let dw: Tensor | null = null, db: Tensor | null = null;
    if (weight.requiresGrad || bias.requiresGrad) {
      // Chunks of whole image rows (about 256 positions each).
      const rowsPer = Math.max(1, Math.round(POSITIONS_PER_CHUNK / W));
      const { chunks, per } = chunksOf(B * H, rowsPer);
      const partials = engine.empty([chunks, 10 * C]);
      const kernel = engine.kernel(() => ({
        key: `nn.dwconv3.bwd_w.${v}`,
        bindings: [
          { name: "x", type: `array<${T(v)}>` },
          { name: "gy", type: `array<${T(v)}>` },
          { name: "part", access: "read_write" },
        ],
        code: /* wgsl */ `
const Z = ${T(v)}(0.0);
fn ld(row: u32, col: u32, valid: bool, W: u32, n: u32, c4: u32) -> ${T(v)} {
  return select(Z, x[(row * W + min(col, W - 1u)) * n + c4], valid && col < W);
}
// One invocation per (chunk of image rows, channel group c4): partial Σ gy·x over the 9 taps
// and Σ gy (bias), written to part[chunk, (c·9 + tap) | 9C + c]. Along a row the 3×3 input
// window slides: 3 new loads per position.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let B = pu(0u); let H = pu(1u); let W = pu(2u); let C = pu(3u); let per = pu(4u); let chunks = pu(5u);
  let n = C / ${v}u;
  if (i >= chunks * n) { return; }
  let chunk = i / n; let c4 = i % n;
  var a0 = Z; var a1 = Z; var a2 = Z; var a3 = Z; var a4 = Z; var a5 = Z; var a6 = Z; var a7 = Z;
  var a8 = Z; var a9 = Z;
  let r1 = min(B * H, (chunk + 1u) * per);
  for (var r = chunk * per; r < r1; r++) {
    let h = r % H;
    let vm = h >= 1u; let vp = h + 1u < H;
    let rm = select(r, r - 1u, vm); let rp = select(r, r + 1u, vp);
    var xm0 = Z; var xc0 = Z; var xp0 = Z;
    var xm1 = ld(rm, 0u, vm, W, n, c4); var xc1 = ld(r, 0u, true, W, n, c4);
    var xp1 = ld(rp, 0u, vp, W, n, c4);
    for (var w = 0u; w < W; w++) {
      let xm2 = ld(rm, w + 1u, vm, W, n, c4); let xc2 = ld(r, w + 1u, true, W, n, c4);
      let xp2 = ld(rp, w + 1u, vp, W, n, c4);
      let g = gy[(r * W + w) * n + c4];
      a0 += g * xm0; a1 += g * xm1; a2 += g * xm2;
      a3 += g * xc0; a4 += g * xc1; a5 += g * xc2;
      a6 += g * xp0; a7 += g * xp1; a8 += g * xp2;
      a9 += g;
      xm0 = xm1; xm1 = xm2; xc0 = xc1; xc1 = xc2; xp0 = xp1; xp1 = xp2;
    }
  }
  var acc = array<${T(v)}, 10>(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9);
  let row = chunk * 10u * C;
  for (var l = 0u; l < ${v}u; l++) {
    let c = c4 * ${v}u + l;
    for (var t = 0u; t < 9u; t++) { part[row + c * 9u + t] = ${lane(v, "acc[t]", "l")}; }
    part[row + 9u * C + c] = ${lane(v, "acc[9]", "l")};
  }
}`,
      }), `nn.dwconv3.bwd_w.${v}`);
      engine.dispatch({
        kernel,
        bindings: [x, gy, partials],
        params: [B, H, W, C, per, chunks],
        workgroups: grid1d(chunks * n, WG),
        op: `${op}.backward`,
      });
      dw = engine.empty(weight.shape);
      db = engine.empty([C]);
      sumRows(engine, partials, chunks, 10 * C, 0, 9 * C, dw, op);
      sumRows(engine, partials, chunks, 10 * C, 9 * C, C, db, op);
    }
    return [dx, dw, db];
  });
  return y;
}

/** Depthwise kernel direction: forward (optionally with SiLU) or input gradient. */
type Dir = "fwd" | "fwd_silu" | "bwd";

function T(v: number): string {
  return v === 4 ? "vec4<f32>" : "f32";
}

function lane(v: number, e: string, l: string): string {
  return v === 4 ? `${e}[${l}]` : e;
}

/** Copies a `(C, 1, 3, 3)` weight to tap-major `(9, C)`. */
function tapMajorKernel(engine: Tensor["engine"]) {
  return engine.kernel(() => ({
    key: "nn.dwconv3.taps",
    bindings: [{ name: "w" }, { name: "taps", access: "read_write" }],
    code: /* wgsl */ `
// One invocation per weight element: taps[t, c] = w[c, 0, t / 3, t % 3].
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let C = pu(0u);
  if (i >= 9u * C) { return; }
  taps[(i % 9u) * C + i / 9u] = w[i];
}`,
  }), "nn.dwconv3.taps");
}

/**
 * Workgroup of the depthwise kernels (16 channel groups × 4 column groups of one image row)
 * and output columns per invocation (each loaded input is reused by up to 3 outputs).
 */
const DW_X = 16, DW_Y = 4, DW_COLS = 4;

/**
 * Records the forward (`fwd`) or input-gradient (`bwd`) depthwise kernel over a 3-D grid
 * (channel group, column group, image row): no integer division per output. Batches are
 * split so that B·H stays within the 65535 workgroups of a dimension.
 */
function dispatchDw(
  x: Tensor,
  taps: Tensor,
  bias: Tensor,
  out: Tensor,
  dir: Dir,
  v: number,
  op: string,
  pre: Tensor | null = null,
): void {
  const [B, H, W, C] = x.shape;
  const n = C / v;
  const perDispatch = Math.max(1, Math.floor(65535 / H));
  for (let b0 = 0; b0 < B; b0 += perDispatch) {
    const nb = Math.min(perDispatch, B - b0);
    x.engine.dispatch({
      kernel: dwKernel(x.engine, dir, v, pre !== null),
      bindings: pre ? [x, taps, bias, out, pre] : [x, taps, bias, out],
      params: [b0, H, W, C],
      workgroups: [Math.ceil(n / DW_X), Math.ceil(W / (DW_Y * DW_COLS)), nb * H],
      op,
    });
  }
}

/**
 * The forward kernel (`fwd`: taps at +offset, adds bias) or the input-gradient kernel
 * (`bwd`: taps mirrored, no bias) of the depthwise conv, reading tap-major weights.
 */
function dwKernel(engine: Tensor["engine"], dir: Dir, v: number, savePre: boolean) {
  const key = `nn.dwconv3.${dir}.${v}.${DW_COLS}${savePre ? ".pre" : ""}`;
  const fwd = dir !== "bwd";
  return engine.kernel(() => {
    const K = DW_COLS;
    // Input columns w0 − 1 … w0 + K are loaded once per tap row into xv0 … xv{K+1}.
    const loads = Array.from(
      { length: K + 2 },
      (_, j) =>
        `let col${j} = i32(w0) + ${
          j - 1
        }; let xv${j} = select(Z, x[(row + u32(max(col${j}, 0))) * n + c4], col${j} >= 0 && col${j} < i32(W));`,
    ).join("\n      ");
    // fwd: out k uses columns k, k+1, k+2 (taps 0, 1, 2); bwd: columns k+2, k+1, k.
    const accs = Array.from(
      { length: K },
      (_, k) =>
        fwd
          ? `s${k} += t0 * xv${k} + t1 * xv${k + 1} + t2 * xv${k + 2};`
          : `s${k} += t0 * xv${k + 2} + t1 * xv${k + 1} + t2 * xv${k};`,
    ).join("\n      ");
    const init = Array.from(
      { length: K },
      (_, k) => `var s${k} = ${fwd ? "bias[c4]" : "Z"};`,
    ).join(" ");
    const stores = Array.from(
      { length: K },
      (_, k) => {
        const o = `(orow + w0 + ${k}u) * n + c4`;
        if (dir !== "fwd_silu") return `if (w0 + ${k}u < W) { y[${o}] = s${k}; }`;
        return `if (w0 + ${k}u < W) { ${savePre ? `pre[${o}] = s${k}; ` : ""}y[${o}] = s${k} * (${
          T(v)
        }(1.0) / (${T(v)}(1.0) + exp(-s${k}))); }`;
      },
    ).join("\n  ");
    const rowOf = fwd ? "i32(h) + i32(di) - 1" : "i32(h) - i32(di) + 1";
    return {
      key,
      bindings: [
        { name: "x", type: `array<${T(v)}>` },
        { name: "taps", type: `array<${T(v)}>` },
        { name: "bias", type: `array<${T(v)}>` },
        { name: "y", access: "read_write", type: `array<${T(v)}>` },
        ...(savePre
          ? [{ name: "pre", access: "read_write" as const, type: `array<${T(v)}>` }]
          : []),
      ],
      code: /* wgsl */ `
const Z = ${T(v)}(0.0);
// One invocation per (channel group c4 = x, ${K} consecutive columns from w0 = ${K}·y,
// image row (b, h) = z). ${
        fwd
          ? `y = ${dir === "fwd_silu" ? "silu(" : ""}bias + Σ w[c,i,j]·x[h+i−1, w+j−1]${
            dir === "fwd_silu" ? `)${savePre ? ", pre = its argument" : ""}` : ""
          }`
          : "dx = Σ w[c,i,j]·gy[h−i+1, w−j+1] (x binds gy here)"
      }; each loaded input serves up to 3 outputs.
@compute @workgroup_size(${DW_X}, ${DW_Y}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let H = pu(1u); let W = pu(2u); let n = pu(3u) / ${v}u;
  let c4 = gid.x; let w0 = gid.y * ${K}u;
  if (c4 >= n || w0 >= W) { return; }
  let h = wid.z % H; let b = pu(0u) + wid.z / H;
  ${init}
  for (var di = 0u; di < 3u; di++) {
    let hh = ${rowOf};
    if (hh < 0 || hh >= i32(H)) { continue; }
    let row = (b * H + u32(hh)) * W;
    let t0 = taps[(di * 3u) * n + c4];
    let t1 = taps[(di * 3u + 1u) * n + c4];
    let t2 = taps[(di * 3u + 2u) * n + c4];
      ${loads}
      ${accs}
  }
  let orow = (b * H + h) * W;
  ${stores}
}`,
    };
  }, key);
}

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
  sameEngineOf(op, x, weight, bias);
  expectF32(op, ["x", x], ["weight", weight], ["bias", bias]);
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
  const engine = x.engine;
  const y = engine.empty([B, Ho, Wo, Co]);
  const dims = [B, Ci, H, W, Co, k, Ho, Wo];
  if (y.size > 0) {
    const kernel = engine.kernel(() => ({
      key: "nn.patchify.fwd",
      bindings: [{ name: "x" }, { name: "w" }, { name: "bias" }, {
        name: "y",
        access: "read_write",
      }],
      code: /* wgsl */ `
// One invocation per output (b, h, w, o): the dot product of patch (h, w) with filter o.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let B = pu(0u); let Ci = pu(1u); let H = pu(2u); let W = pu(3u); let Co = pu(4u); let k = pu(5u);
  let Ho = pu(6u); let Wo = pu(7u);
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
  y[i] = s;
}
fn w_at(i: u32) -> f32 { return w[i]; }`,
    }), "nn.patchify.fwd");
    engine.dispatch({
      kernel,
      bindings: [x, weight, bias, y],
      params: dims,
      workgroups: grid1d(y.size, WG),
      op,
    });
  }
  engine.record(op, [x, weight, bias], [y], ([gy]) => {
    if (!gy || y.size === 0) return [null, null, null];
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = engine.empty(x.shape);
      const kernel = engine.kernel(() => ({
        key: "nn.patchify.bwd_x",
        bindings: [{ name: "gy" }, { name: "w" }, { name: "dx", access: "read_write" }],
        code: /* wgsl */ `
// One invocation per input element (b, c, row, col): each lies in exactly one patch (or in
// the cropped border, gradient 0): dx = Σ_o gy[b, row/k, col/k, o]·w[o, c, row%k, col%k].
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let B = pu(0u); let Ci = pu(1u); let H = pu(2u); let W = pu(3u); let Co = pu(4u); let k = pu(5u);
  let Ho = pu(6u); let Wo = pu(7u);
  if (i >= B * Ci * H * W) { return; }
  let col = i % W; let row = (i / W) % H; let c = (i / (W * H)) % Ci; let b = i / (W * H * Ci);
  let h = row / k; let w = col / k;
  var s = 0.0;
  if (h < Ho && w < Wo) {
    let g0 = ((b * Ho + h) * Wo + w) * Co;
    let wi = (c * k + row % k) * k + col % k;
    for (var o = 0u; o < Co; o++) { s += gy[g0 + o] * w_(o * Ci * k * k + wi); }
  }
  dx[i] = s;
}
fn w_(i: u32) -> f32 { return w[i]; }`,
      }), "nn.patchify.bwd_x");
      engine.dispatch({
        kernel,
        bindings: [gy, weight, dx],
        params: dims,
        workgroups: grid1d(x.size, WG),
        op: `${op}.backward`,
      });
    }
    let dw: Tensor | null = null, db: Tensor | null = null;
    if (weight.requiresGrad || bias.requiresGrad) {
      const K = Ci * k * k;
      const cols = Co * K + Co;
      const { chunks, per } = chunksOf(B * Ho * Wo, POSITIONS_PER_CHUNK * 4);
      const partials = engine.empty([chunks, cols]);
      const kernel = engine.kernel(() => ({
        key: "nn.patchify.bwd_w",
        bindings: [{ name: "x" }, { name: "gy" }, { name: "part", access: "read_write" }],
        code: /* wgsl */ `
// One invocation per (patch chunk, weight element j < Co·K | bias o): partial Σ over the
// chunk's patches of gy[patch, o]·x[patch element] (or of gy for the bias).
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let B = pu(0u); let Ci = pu(1u); let H = pu(2u); let W = pu(3u); let Co = pu(4u); let k = pu(5u);
  let Ho = pu(6u); let Wo = pu(7u); let per = pu(8u); let chunks = pu(9u);
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
  part[i] = s;
}`,
      }), "nn.patchify.bwd_w");
      engine.dispatch({
        kernel,
        bindings: [x, gy, partials],
        params: [...dims, per, chunks],
        workgroups: grid1d(chunks * cols, WG),
        op: `${op}.backward`,
      });
      dw = engine.empty(weight.shape);
      db = engine.empty([Co]);
      sumRows(engine, partials, chunks, cols, 0, Co * K, dw, op);
      sumRows(engine, partials, chunks, cols, Co * K, Co, db, op);
    }
    return [dx, dw, db];
  });
  return y;
}

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
  sameEngineOf(op, x, weight, bias);
  expectF32(op, ["x", x], ["weight", weight], ["bias", bias]);
  expectRank(op, "x", x, 4, "channels-last (B, H, W, Cin)");
  const [B, H, W, Ci] = x.shape;
  expectRank(op, "weight", weight, 4, "(Cout, Cin, 1, 1)");
  const Co = weight.shape[0];
  expectShape(op, "weight", weight, [Co, Ci, 1, 1]);
  expectShape(op, "bias", bias, [Co]);
  if (convConfig.variant === "matmul" && x.size > 0 && Co > 0) {
    return permute(linear(x, reshape(weight, [Co, Ci]), bias), [0, 3, 1, 2]);
  }
  const engine = x.engine;
  const P = H * W;
  const y = engine.empty([B, Co, H, W]);
  const dims = [B, P, Ci, Co];
  if (y.size > 0) {
    const kernel = engine.kernel(() => ({
      key: "nn.conv1x1.fwd",
      bindings: [{ name: "x" }, { name: "w" }, { name: "bias" }, {
        name: "y",
        access: "read_write",
      }],
      code: /* wgsl */ `
// One invocation per output (b, o, pixel): bias[o] + w[o, :]·x[b, pixel, :].
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let B = pu(0u); let P = pu(1u); let Ci = pu(2u); let Co = pu(3u);
  if (i >= B * Co * P) { return; }
  let p = i % P; let o = (i / P) % Co; let b = i / (P * Co);
  var s = bias[o];
  let xr = (b * P + p) * Ci; let wr = o * Ci;
  for (var c = 0u; c < Ci; c++) { s += w[wr + c] * x[xr + c]; }
  y[i] = s;
}`,
    }), "nn.conv1x1.fwd");
    engine.dispatch({
      kernel,
      bindings: [x, weight, bias, y],
      params: dims,
      workgroups: grid1d(y.size, WG),
      op,
    });
  }
  engine.record(op, [x, weight, bias], [y], ([gy]) => {
    if (!gy || y.size === 0) return [null, null, null];
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = engine.empty(x.shape);
      const kernel = engine.kernel(() => ({
        key: "nn.conv1x1.bwd_x",
        bindings: [{ name: "gy" }, { name: "w" }, { name: "dx", access: "read_write" }],
        code: /* wgsl */ `
// One invocation per input element (b, pixel, c): Σ_o gy[b, o, pixel]·w[o, c].
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let B = pu(0u); let P = pu(1u); let Ci = pu(2u); let Co = pu(3u);
  if (i >= B * P * Ci) { return; }
  let c = i % Ci; let p = (i / Ci) % P; let b = i / (Ci * P);
  var s = 0.0;
  for (var o = 0u; o < Co; o++) { s += gy[(b * Co + o) * P + p] * w[o * Ci + c]; }
  dx[i] = s;
}`,
      }), "nn.conv1x1.bwd_x");
      engine.dispatch({
        kernel,
        bindings: [gy, weight, dx],
        params: dims,
        workgroups: grid1d(x.size, WG),
        op: `${op}.backward`,
      });
    }
    let dw: Tensor | null = null, db: Tensor | null = null;
    if (weight.requiresGrad || bias.requiresGrad) {
      const cols = Co * Ci + Co;
      const { chunks, per } = chunksOf(B * P, POSITIONS_PER_CHUNK * 4);
      const partials = engine.empty([chunks, cols]);
      const kernel = engine.kernel(() => ({
        key: "nn.conv1x1.bwd_w",
        bindings: [{ name: "x" }, { name: "gy" }, { name: "part", access: "read_write" }],
        code: /* wgsl */ `
// One invocation per (pixel chunk, weight element (o, c) | bias o): partial sums over the
// chunk's pixels of gy[b, o, p]·x[b, p, c] (or of gy).
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let B = pu(0u); let P = pu(1u); let Ci = pu(2u); let Co = pu(3u); let per = pu(4u); let chunks = pu(5u);
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
  part[i] = s;
}`,
      }), "nn.conv1x1.bwd_w");
      engine.dispatch({
        kernel,
        bindings: [x, gy, partials],
        params: [...dims, per, chunks],
        workgroups: grid1d(chunks * cols, WG),
        op: `${op}.backward`,
      });
      dw = engine.empty(weight.shape);
      db = engine.empty([Co]);
      sumRows(engine, partials, chunks, cols, 0, Co * Ci, dw, op);
      sumRows(engine, partials, chunks, cols, Co * Ci, Co, db, op);
    }
    return [dx, dw, db];
  });
  return y;
}
