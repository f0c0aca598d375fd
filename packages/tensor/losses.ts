/**
 * VM-UNet's losses exactly as the official `utils.py` (docs/spec.md §7), forward and backward on
 * the GPU, each a scalar tensor (shape `[]`) without readback:
 *
 * - binary (ISIC, sigmoid output): {@linkcode bceLoss} (`nn.BCELoss`, log clamped at −100),
 *   {@linkcode diceLoss} (per-sample smooth-1 Dice), {@linkcode bceDiceLoss} (weighted sum);
 * - multi-class (Synapse, logits NCHW): {@linkcode crossEntropyLoss}
 *   (`nn.CrossEntropyLoss`), {@linkcode nDiceLoss} (softmax, one-hot of every class, squares
 *   in the denominator, 1e-5 smoothing), {@linkcode ceDiceLoss} (weighted sum).
 *
 * Each loss is two or three fused kernels: per-chunk partial sums, one finalising
 * workgroup (no float atomics in WGSL), and one element-wise backward kernel.
 *
 * @module
 */

import type { Engine, Kernel, KernelBinding } from "./engine.ts";
import type { Tensor } from "./tensor.ts";
import { DtypeError, formatShape, ShapeError } from "./tensor_errors.ts";
import { chunksOf, expectF32, sameEngineOf } from "./_nn_util.ts";
import { sameShape } from "./ops/_shape.ts";

const WG = 64;
/** Elements per partial sum (binary losses) and pixels per partial sum (multi-class). */
const ELEMENTS_PER_CHUNK = 1024;
const PIXELS_PER_CHUNK = 256;
/** PyTorch's BCE backward floor `EPSILON = 1e-12` (a float constant). */
const BCE_EPS = Math.fround(1e-12);

/** Params of {@linkcode finalizeKernel}: partials rows and columns, two weights, a count. */
const FINAL_PARAMS = { rows: "u32", cols: "u32", w0: "f32", w1: "f32", count: "u32" } as const;

/**
 * A finalising kernel: one workgroup sums the `rows` rows of partials column by column into
 * `stats`, then invocation 0 runs `finalCode` (which reads `stats`, the weights `params.w0`,
 * `params.w1` and the element count `params.count`, and writes `loss[0]`).
 */
function finalizeKernel(
  engine: Engine,
  key: string,
  finalCode: string,
): Kernel<typeof FINAL_PARAMS> {
  return engine.kernel(key, () => ({
    params: FINAL_PARAMS,
    bindings: [
      { name: "part" },
      { name: "stats", access: "read_write" },
      { name: "loss", access: "read_write" },
    ],
    code: /* wgsl */ `
// One workgroup: invocation j sums columns j, j + ${WG}, … over all rows into stats, then
// invocation 0 combines the column sums into the loss.
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let rows = params.rows; let cols = params.cols;
  for (var j = lid.x; j < cols; j += ${WG}u) {
    var s = 0.0;
    for (var r = 0u; r < rows; r++) { s += part[r * cols + j]; }
    stats[j] = s;
  }
  storageBarrier();
  workgroupBarrier();
  if (lid.x != 0u) { return; }
  ${finalCode}
}`,
  }));
}

/** How {@linkcode lossOp} computes one loss. */
interface LossKernels {
  /** Rows of partial sums. */
  chunks: number;
  /** Columns of partial sums (and of the summed `stats`). */
  cols: number;
  /** Records the kernel that writes the `(chunks, cols)` partial sums into `partials`. */
  partials: (partials: Tensor) => void;
  /** Cache key and `finalCode` of the finalising kernel (see {@linkcode finalizeKernel}). */
  final: [key: string, code: string];
  /** The finalising kernel's weights and element count. */
  params: { w0: number; w1: number; count: number };
  /** Records ∂loss/∂input 0 given ∂L/∂loss (`gl`, one element) and the summed `stats`. */
  backward: (gl: Tensor, stats: Tensor) => Tensor;
}

/**
 * A loss of `inputs` (the first differentiable, the second the targets): partial sums, one
 * finalising workgroup writing the scalar loss, and the backward on the tape.
 */
function lossOp(op: string, inputs: [Tensor, Tensor], k: LossKernels): Tensor {
  const engine = inputs[0].engine;
  const partials = engine.empty([k.chunks, k.cols]);
  const stats = engine.empty([k.cols]);
  const loss = engine.empty([]);
  k.partials(partials);
  engine.dispatch({
    kernel: finalizeKernel(engine, ...k.final),
    bindings: [partials, stats, loss],
    params: { rows: k.chunks, cols: k.cols, ...k.params },
    workgroups: [1],
    op,
  });
  partials.dispose();
  engine.record(op, inputs, [loss], ([gl]) => (gl ? [k.backward(gl, stats), null] : [null, null]));
  return loss;
}

function checkSameShape(op: string, a: Tensor, b: Tensor, an: string, bn: string): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new ShapeError(
      op,
      `${an} ${formatShape(a.shape)} and ${bn} ${formatShape(b.shape)} must have the same shape`,
    );
  }
}

/** Weights of {@linkcode bceDiceLoss}. */
export interface BceDiceWeights {
  /** Weight of the BCE term (official `wb`, default 1). */
  wb?: number;
  /** Weight of the Dice term (official `wd`, default 1). */
  wd?: number;
}

/**
 * The official `BceDiceLoss(wb, wd)` = wd·Dice + wb·BCE on probabilities `pred` (the
 * sigmoid output) and targets in [0, 1] of the same shape, batch first:
 * BCE = −mean(t·max(ln p, −100) + (1 − t)·max(ln(1 − p), −100)) over every element;
 * Dice = 1 − mean_b (2Σpt + 1)/(Σp + Σt + 1) per sample b. The backward follows PyTorch
 * (BCE: `(p − t)/max(p(1 − p), 1e-12)/n`).
 *
 * @param pred Probabilities `(B, …)`.
 * @param target Targets, same shape.
 * @param weights `wb`, `wd` (default 1, 1 as VM-UNet's ISIC config).
 * @returns The scalar loss (shape `[]`).
 * @throws {ShapeError} when the shapes differ; {@linkcode DtypeError} for i32 inputs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bceDiceLoss, Engine } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const p = engine.tensor([0.5, 0.5], [1, 2], { requiresGrad: true });
 * const t = engine.tensor([1, 0], [1, 2]);
 * const loss = bceDiceLoss(p, t); // ln 2 + 1/3
 * loss.backward();
 * assert.ok(Math.abs((await loss.read())[0] - (Math.LN2 + 1 / 3)) < 1e-5);
 * // ∂BCE/∂p = [−1, 1], ∂Dice/∂p = [−4/9, 2/9]
 * const want = [-1 - 4 / 9, 1 + 2 / 9];
 * (await p.grad!.read()).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5));
 * engine.destroy();
 * ```
 */
export function bceDiceLoss(pred: Tensor, target: Tensor, weights: BceDiceWeights = {}): Tensor {
  return binaryLoss("bceDiceLoss", pred, target, weights.wb ?? 1, weights.wd ?? 1);
}

/**
 * `nn.BCELoss()` (mean) on probabilities, log clamped at −100 like PyTorch.
 *
 * @param pred Probabilities.
 * @param target Targets in [0, 1], same shape.
 * @returns The scalar loss.
 */
export function bceLoss(pred: Tensor, target: Tensor): Tensor {
  return binaryLoss("bceLoss", pred, target, 1, 0);
}

/**
 * The official `DiceLoss`: 1 − mean over samples of (2Σpt + 1)/(Σp + Σt + 1).
 *
 * @param pred Probabilities `(B, …)`.
 * @param target Targets, same shape.
 * @returns The scalar loss.
 */
export function diceLoss(pred: Tensor, target: Tensor): Tensor {
  return binaryLoss("diceLoss", pred, target, 0, 1);
}

function binaryLoss(op: string, pred: Tensor, target: Tensor, wb: number, wd: number): Tensor {
  sameEngineOf(op, pred, target);
  expectF32(op, ["pred", pred], ["target", target]);
  checkSameShape(op, pred, target, "pred", "target");
  if (pred.rank < 1 || pred.size === 0) {
    throw new ShapeError(
      op,
      `pred must be a non-empty batch (B, …), got ${formatShape(pred.shape)}`,
    );
  }
  const engine = pred.engine;
  const B = pred.shape[0], per = pred.size / B, n = pred.size;
  const { chunks, per: chunk } = chunksOf(per, ELEMENTS_PER_CHUNK);
  return lossOp(op, [pred, target], {
    chunks,
    cols: 4 * B,
    partials: (partials) => {
      const partialKernel = engine.kernel("nn.loss.binary.partial", () => ({
        params: { B: "u32", per: "u32", chunk: "u32", chunks: "u32" },
        bindings: [{ name: "p" }, { name: "t" }, { name: "part", access: "read_write" }],
        code: /* wgsl */ `
// One invocation per (sample b, chunk g): partial [Σ bce, Σ p·t, Σ p, Σ t] over the chunk,
// stored at part[g, 4b + 0..3].
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let B = params.B; let per = params.per; let chunk = params.chunk; let chunks = params.chunks;
  if (i >= B * chunks) { return; }
  let b = i % B; let g = i / B;
  let e1 = min(per, (g + 1u) * chunk);
  var sb = 0.0; var si = 0.0; var sp = 0.0; var st = 0.0;
  for (var e = g * chunk; e < e1; e++) {
    let k = b * per + e;
    let x = p[k]; let y = t[k];
    sb -= y * max(log(x), -100.0) + (1.0 - y) * max(log(1.0 - x), -100.0);
    si += x * y; sp += x; st += y;
  }
  let o = g * 4u * B + 4u * b;
  part[o] = sb; part[o + 1u] = si; part[o + 2u] = sp; part[o + 3u] = st;
}`,
      }));
      engine.dispatch({
        kernel: partialKernel,
        bindings: [pred, target, partials],
        params: { B, per, chunk, chunks },
        workgroups: engine.grid(B * chunks, WG),
        op,
      });
    },
    final: [
      "nn.loss.binary.final",
      /* wgsl */ `
  let B = cols / 4u;
  var bce = 0.0; var dice = 0.0;
  for (var b = 0u; b < B; b++) {
    bce += stats[4u * b];
    dice += (2.0 * stats[4u * b + 1u] + 1.0) / (stats[4u * b + 2u] + stats[4u * b + 3u] + 1.0);
  }
  loss[0] = params.w0 * bce / f32(params.count) + params.w1 * (1.0 - dice / f32(B));`,
    ],
    params: { w0: wb, w1: wd, count: n },
    backward: (gl, stats) => {
      const grad = engine.empty(pred.shape);
      const kernel = engine.kernel("nn.loss.binary.backward", () => ({
        params: { n: "u32", per: "u32", B: "u32", wb: "f32", wd: "f32", eps: "f32" },
        bindings: [
          { name: "p" },
          { name: "t" },
          { name: "stats" },
          { name: "gl" },
          { name: "grad", access: "read_write" },
        ],
        code: /* wgsl */ `
// One invocation per element: gl·(wb·(p − t)/max(p(1 − p), eps)/n
//                                 − wd·(2t·den_b − num_b)/den_b²/B).
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, 256u);
  let n = params.n; let per = params.per; let B = params.B;
  if (i >= n) { return; }
  let b = i / per;
  let x = p[i]; let y = t[i];
  let den = stats[4u * b + 2u] + stats[4u * b + 3u] + 1.0;
  let num = 2.0 * stats[4u * b + 1u] + 1.0;
  let g_bce = (x - y) / max(x * (1.0 - x), params.eps) / f32(n);
  let g_dice = -(2.0 * y * den - num) / (den * den) / f32(B);
  grad[i] = gl[0] * (params.wb * g_bce + params.wd * g_dice);
}`,
      }));
      engine.dispatch({
        kernel,
        bindings: [pred, target, stats, gl, grad],
        params: { n, per, B, wb, wd, eps: BCE_EPS },
        workgroups: engine.grid(n, 256),
        op: `${op}.backward`,
      });
      return grad;
    },
  });
}

/** Weights of {@linkcode ceDiceLoss}. */
export interface CeDiceWeights {
  /** Weight of the cross-entropy term (official `loss_weight[0]`, default 1 as VM-UNet's config). */
  wce?: number;
  /** Weight of the Dice term (official `loss_weight[1]`, default 1). */
  wdice?: number;
}

/**
 * The official `CeDiceLoss(nc, [wce, wdice])` = wce·CE + wdice·nDice on NCHW logits
 * `(B, nc, H, W)` (the model's raw output for nc > 1) and integer labels `(B, H, W)` in
 * [0, nc): CE = `nn.CrossEntropyLoss()` (mean over pixels); nDice = softmax over classes,
 * one-hot targets of every class (background included), per class over the whole batch
 * dice_k = (2Σs·t + 1e-5)/(Σs² + Σt² + 1e-5), loss = mean_k(1 − dice_k). Labels outside
 * [0, nc) are not checked (no readback): they count in no class.
 *
 * @param logits `(B, nc, H, W)` f32.
 * @param labels `(B, H, W)` i32.
 * @param weights `wce`, `wdice` (default 1, 1).
 * @returns The scalar loss (shape `[]`).
 * @throws {ShapeError} when the shapes do not fit; {@linkcode DtypeError} for wrong dtypes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ceDiceLoss, Engine } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const z = engine.tensor([2, 0, -1, 1], [1, 2, 1, 2], { requiresGrad: true });
 * const y = engine.tensor([0, 1], [1, 1, 2], { dtype: "i32" });
 * const loss = ceDiceLoss(z, y);
 * loss.backward();
 * assert.ok(Math.abs((await loss.read())[0] - 0.224) < 1e-3); // CE 0.181 + nDice 0.043
 * assert.equal((await z.grad!.read()).length, 4);
 * engine.destroy();
 * ```
 */
export function ceDiceLoss(logits: Tensor, labels: Tensor, weights: CeDiceWeights = {}): Tensor {
  return multiClassLoss("ceDiceLoss", logits, labels, weights.wce ?? 1, weights.wdice ?? 1);
}

/**
 * `nn.CrossEntropyLoss()` (mean over pixels) on NCHW logits with integer labels.
 *
 * @param logits `(B, nc, H, W)` (any number of trailing spatial dims, or none).
 * @param labels `(B, H, W)` i32 in [0, nc).
 * @returns The scalar loss.
 */
export function crossEntropyLoss(logits: Tensor, labels: Tensor): Tensor {
  return multiClassLoss("crossEntropyLoss", logits, labels, 1, 0);
}

/**
 * The official multi-class `nDiceLoss(nc)` with `softmax=True` (see {@linkcode ceDiceLoss}).
 *
 * @param logits `(B, nc, H, W)`.
 * @param labels `(B, H, W)` i32 in [0, nc).
 * @returns The scalar loss.
 */
export function nDiceLoss(logits: Tensor, labels: Tensor): Tensor {
  return multiClassLoss("nDiceLoss", logits, labels, 0, 1);
}

function multiClassLoss(
  op: string,
  logits: Tensor,
  labels: Tensor,
  wce: number,
  wdice: number,
): Tensor {
  sameEngineOf(op, logits, labels);
  expectF32(op, ["logits", logits]);
  if (labels.dtype !== "i32") {
    throw new DtypeError(
      op,
      `labels must be i32 class indices, got ${labels.dtype} ${formatShape(labels.shape)}`,
    );
  }
  const want = [logits.shape[0], ...logits.shape.slice(2)];
  if (
    logits.rank < 2 || labels.rank !== want.length || want.some((d, i) => d !== labels.shape[i])
  ) {
    throw new ShapeError(
      op,
      `logits ${formatShape(logits.shape)} must be (B, nc, …) with labels (B, …) = ` +
        `${logits.rank < 2 ? "(B, …)" : formatShape(want)}, got labels ${
          formatShape(labels.shape)
        }`,
    );
  }
  const nc = logits.shape[1];
  if (nc < 1 || nc > 64 || logits.size === 0) {
    throw new ShapeError(
      op,
      `needs 1 ≤ nc ≤ 64 classes and a non-empty batch, got logits ${formatShape(logits.shape)}`,
    );
  }
  const engine = logits.engine;
  const B = logits.shape[0], P = logits.size / (B * nc), N = B * P;
  const { chunks, per } = chunksOf(N, PIXELS_PER_CHUNK);
  const cols = 1 + 3 * nc;
  const softmax = /* wgsl */ `
  let b = q / P; let p = q % P; let base = b * NC * P + p;
  var m = z[base];
  for (var k = 1u; k < NC; k++) { m = max(m, z[base + k * P]); }
  var se = 0.0;
  for (var k = 0u; k < NC; k++) { se += exp(z[base + k * P] - m); }
  let lab = u32(labels[q]);`;
  // Both kernels bind the logits and the labels first.
  const inputs: KernelBinding[] = [{ name: "z" }, { name: "labels", type: "array<i32>" }];
  return lossOp(op, [logits, labels], {
    chunks,
    cols,
    partials: (partials) => {
      const pKey = `nn.loss.multi.partial.${nc}`;
      const partialKernel = engine.kernel(pKey, () => ({
        params: { N: "u32", P: "u32", per: "u32", chunks: "u32" },
        bindings: [...inputs, { name: "part", access: "read_write" }],
        code: /* wgsl */ `
const NC = ${nc}u;
// One invocation per chunk of pixels: partial [Σ CE, then per class k: Σ s·t, Σ s², Σ t]
// with s = softmax over classes, t = one-hot(label); row g of part.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = lin(gid, nwg, ${WG}u);
  let N = params.N; let P = params.P; let per = params.per; let chunks = params.chunks;
  if (g >= chunks) { return; }
  var acc: array<f32, ${cols}>;
  for (var j = 0u; j < ${cols}u; j++) { acc[j] = 0.0; }
  let q1 = min(N, (g + 1u) * per);
  for (var q = g * per; q < q1; q++) {${softmax}
    for (var k = 0u; k < NC; k++) {
      let s = exp(z[base + k * P] - m) / se;
      let t = select(0.0, 1.0, lab == k);
      acc[1u + 3u * k] += s * t;
      acc[2u + 3u * k] += s * s;
      acc[3u + 3u * k] += t;
      if (lab == k) { acc[0] += m + log(se) - z[base + k * P]; }
    }
  }
  for (var j = 0u; j < ${cols}u; j++) { part[g * ${cols}u + j] = acc[j]; }
}`,
      }));
      engine.dispatch({
        kernel: partialKernel,
        bindings: [logits, labels, partials],
        params: { N, P, per, chunks },
        workgroups: engine.grid(chunks, WG),
        op,
      });
    },
    final: [
      "nn.loss.multi.final",
      /* wgsl */ `
  let nc = (cols - 1u) / 3u;
  var dice = 0.0;
  for (var k = 0u; k < nc; k++) {
    dice += 1.0 - (2.0 * stats[1u + 3u * k] + 1e-5) / (stats[2u + 3u * k] + stats[3u + 3u * k] + 1e-5);
  }
  loss[0] = params.w0 * stats[0] / f32(params.count) + params.w1 * dice / f32(nc);`,
    ],
    params: { w0: wce, w1: wdice, count: N },
    backward: (gl, stats) => {
      const grad = engine.empty(logits.shape);
      const bKey = `nn.loss.multi.backward.${nc}`;
      const kernel = engine.kernel(bKey, () => ({
        params: { N: "u32", P: "u32", wce: "f32", wdice: "f32" },
        bindings: [...inputs, { name: "stats" }, { name: "gl" }, {
          name: "grad",
          access: "read_write",
        }],
        code: /* wgsl */ `
const NC = ${nc}u;
// One invocation per pixel: ∂/∂z_k = gl·(wce·(s_k − t_k)/N + s_k·(gd_k − Σ_j s_j·gd_j)) with
// gd_k = −wdice·(2t_k·den_k − 2s_k·num_k)/den_k²/nc.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = lin(gid, nwg, ${WG}u);
  let N = params.N; let P = params.P;
  if (q >= N) { return; }
  let wce = params.wce; let wdice = params.wdice;${softmax}
  var gd: array<f32, ${nc}>;
  var dot = 0.0;
  for (var k = 0u; k < NC; k++) {
    let s = exp(z[base + k * P] - m) / se;
    let t = select(0.0, 1.0, lab == k);
    let den = stats[2u + 3u * k] + stats[3u + 3u * k] + 1e-5;
    let num = 2.0 * stats[1u + 3u * k] + 1e-5;
    gd[k] = -wdice * (2.0 * t * den - 2.0 * s * num) / (den * den) / f32(NC);
    dot += s * gd[k];
  }
  let g0 = gl[0];
  for (var k = 0u; k < NC; k++) {
    let s = exp(z[base + k * P] - m) / se;
    let t = select(0.0, 1.0, lab == k);
    grad[base + k * P] = g0 * (wce * (s - t) / f32(N) + s * (gd[k] - dot));
  }
}`,
      }));
      engine.dispatch({
        kernel,
        bindings: [logits, labels, stats, gl, grad],
        params: { N, P, wce, wdice },
        workgroups: engine.grid(N, WG),
        op: `${op}.backward`,
      });
      return grad;
    },
  });
}
