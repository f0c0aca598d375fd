/**
 * The depthwise 3×3 convolution of SS2D (channels-last, padding 1, with bias), optionally
 * fused with the SiLU that follows it, forward and backward. Weights use PyTorch's Conv2d
 * layout `(C, 1, 3, 3)`.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { mapKernel, SILU_GRAD_EXPR } from "./_kernels.ts";
import { chunksOf, expectRank, expectShape } from "../_nn_util.ts";
import { checkConvArgs, POSITIONS_PER_CHUNK, weightBiasGrads, WG } from "./_conv.ts";

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
  checkConvArgs(op, x, weight, bias);
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
      params: { C },
      workgroups: engine.grid(9 * C, WG),
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
      const kernel = engine.kernel(`nn.dwconv3.bwd_w.${v}`, () => ({
        params: { B: "u32", H: "u32", W: "u32", C: "u32", per: "u32", chunks: "u32" },
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
  let B = params.B; let H = params.H; let W = params.W; let C = params.C;
  let per = params.per; let chunks = params.chunks;
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
      }));
      const params = { B, H, W, C, per, chunks };
      [dw, db] = weightBiasGrads(
        engine,
        kernel,
        [x, gy],
        params,
        chunks,
        weight,
        C,
        op,
        chunks * n,
      );
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
  return engine.kernel("nn.dwconv3.taps", () => ({
    params: { C: "u32" },
    bindings: [{ name: "w" }, { name: "taps", access: "read_write" }],
    code: /* wgsl */ `
// One invocation per weight element: taps[t, c] = w[c, 0, t / 3, t % 3].
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let C = params.C;
  if (i >= 9u * C) { return; }
  taps[(i % 9u) * C + i / 9u] = w[i];
}`,
  }));
}

/**
 * Workgroup of the depthwise kernels (16 channel groups × 4 column groups of one image row)
 * and output columns per invocation (each loaded input is reused by up to 3 outputs).
 */
const DW_X = 16, DW_Y = 4, DW_COLS = 4;

/**
 * Records the forward (`fwd`) or input-gradient (`bwd`) depthwise kernel over a 3-D grid
 * (channel group, column group, image row): no integer division per output. Batches are
 * split so that B·H stays within the device's workgroups per dimension.
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
  const perDispatch = Math.max(1, Math.floor(x.engine.maxWorkgroupsPerDimension / H));
  for (let b0 = 0; b0 < B; b0 += perDispatch) {
    const nb = Math.min(perDispatch, B - b0);
    x.engine.dispatch({
      kernel: dwKernel(x.engine, dir, v, pre !== null),
      bindings: pre ? [x, taps, bias, out, pre] : [x, taps, bias, out],
      params: { b0, H, W, C },
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
  return engine.kernel(key, () => {
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
      params: { b0: "u32", H: "u32", W: "u32", C: "u32" },
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
  let H = params.H; let W = params.W; let n = params.C / ${v}u;
  let c4 = gid.x; let w0 = gid.y * ${K}u;
  if (c4 >= n || w0 >= W) { return; }
  let h = wid.z % H; let b = params.b0 + wid.z / H;
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
  });
}
