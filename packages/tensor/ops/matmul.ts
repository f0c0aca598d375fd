/**
 * Batched matmul with transposed operands and broadcast batch dimensions, and `linear`
 * (`nn.Linear` over the last dimension), with backward.
 *
 * @module
 */

import type { Engine } from "../engine.ts";
import type { Tensor } from "../tensor.ts";
import { formatShape, ShapeError } from "../tensor_errors.ts";
import { broadcastShapes, broadcastStrides, expectDtype, sameEngine } from "./_shape.ts";
import { gatherKernel } from "./_kernels.ts";
import { add } from "./elementwise.ts";
import { reshape } from "./layout.ts";
import { sum, sumTo } from "./reduce.ts";
import {
  MATMUL_PARAMS,
  registerMatmulWgsl,
  registerScalarAWgsl,
  type RegisterTile,
  scalarMatmulWgsl,
  sharedMatmulWgsl,
  type SharedTile,
} from "./matmul_kernels.ts";

/** Options of {@linkcode matmul}. */
export interface MatmulOptions {
  /** Use `a`'s last two dimensions transposed (`a` stored as `(…, K, M)`). */
  transA?: boolean;
  /** Use `b`'s last two dimensions transposed (`b` stored as `(…, N, K)`). */
  transB?: boolean;
}

/**
 * A matmul kernel choice: `"auto"` (the engine's family), a register-blocked tile
 * (`{ kind: "register", tm, tn, wx, wy }`), a shared-memory tile
 * (`{ kind: "shared", tm, tn, wx, wy, bk }`) or `"scalar"` (strided fallback).
 */
export type MatmulVariant =
  | "auto"
  | "scalar"
  | ({ kind: "register" } & RegisterTile)
  | ({ kind: "shared" } & SharedTile);

/**
 * Largest register tile used on CPU adapters: up to 32×32 outputs per invocation, 8
 * invocations per workgroup in one row, so the A loads are uniform across the workgroup
 * (one scalar load instead of one per lane on lavapipe) and each per-lane B load feeds 32
 * rows of FMAs. {@linkcode pickRegisterTile} narrows it to the matrix.
 */
export const DEFAULT_REGISTER_TILE: RegisterTile = { tm: 32, tn: 32, wx: 8, wy: 1 };

/**
 * The register tile for an `M × N` output. `tn` (a multiple of 4, at most 32) spreads N over
 * the 8 SIMD lanes of a CPU adapter with the least padded work: each candidate costs
 * `⌈N / (8·tn)⌉ · (tn + 4)` (column blocks times the per-invocation columns plus a fixed
 * overhead of about four columns' worth), so N = 152 takes 20 columns per invocation (one
 * block of 160) instead of 16 (two blocks, the second nearly idle) and N = 384 takes 24 (two
 * full blocks) instead of 32 (the second block half idle). `tm` is up to 32 rows (multiples
 * of 4).
 *
 * @param m Rows of C.
 * @param n Columns of C.
 * @returns The tile.
 */
export function pickRegisterTile(m: number, n: number): RegisterTile {
  const t = DEFAULT_REGISTER_TILE;
  let tn = 4, best = Infinity;
  for (let c = 4; c <= t.tn; c += 4) {
    const cost = Math.ceil(n / (t.wx * c)) * (c + 4);
    if (cost <= best) [tn, best] = [c, cost];
  }
  const tm = Math.min(t.tm, Math.max(4, Math.ceil(m / 4) * 4));
  return { ...t, tm, tn };
}

/**
 * Largest register tile used when both operands are transposed (that variant rebuilds
 * A's vec4s along k in registers; LLVM's compile time grows steeply with the tile).
 */
export const MAX_TT_TILE: { tm: number; tn: number } = { tm: 8, tn: 8 };
/** Shared-memory tile of the `"tiled"` family: 64×64 block, 4×4 per invocation, 16-deep. */
export const DEFAULT_SHARED_TILE: SharedTile = { tm: 4, tn: 4, wx: 16, wy: 16, bk: 16 };
/**
 * Register tile of the `"register"` family on real GPUs: 4×4 outputs per invocation in 8×8
 * workgroups (measured 13.6 TFLOP/s at 1024³ on an H200 through Vulkan; see BENCHMARKS.md).
 */
export const GPU_REGISTER_TILE: RegisterTile = { tm: 4, tn: 4, wx: 8, wy: 8 };

function variantKey(v: Exclude<MatmulVariant, "auto">): string {
  if (v === "scalar") return "scalar";
  return v.kind === "register"
    ? `reg${v.tm}x${v.tn}w${v.wx}x${v.wy}`
    : `sh${v.tm}x${v.tn}w${v.wx}x${v.wy}k${v.bk}`;
}

/** Whether the register-blocked kernel handles these sizes/layouts. */
function registerFits(
  m: number,
  n: number,
  k: number,
  tA: boolean,
  tB: boolean,
  tile: RegisterTile,
): boolean {
  if (n % 4 !== 0) return false;
  if ((!tA || tB) && k % 4 !== 0) return false;
  if (tA && (m % 4 !== 0 || tile.tm % 4 !== 0)) return false;
  return true;
}

/**
 * Computes `op(a)·op(b)` into a new tensor with the chosen kernel (no tape). Exposed for
 * benchmarks and custom ops.
 *
 * @param engine The engine.
 * @param a Left operand `(…, M, K)` or `(…, K, M)` when `transA`.
 * @param b Right operand `(…, K, N)` or `(…, N, K)` when `transB`.
 * @param options Transposes.
 * @param variant Kernel choice (default `"auto"`).
 * @returns `(broadcast batch…, M, N)`.
 */
export function matmulKernel(
  engine: Engine,
  a: Tensor,
  b: Tensor,
  options: MatmulOptions = {},
  variant: MatmulVariant = "auto",
): Tensor {
  const op = "matmul";
  const tA = options.transA ?? false, tB = options.transB ?? false;
  const { m, n, k, batch } = matmulShapes(op, a, b, tA, tB);
  const size = batch.reduce((x, y) => x * y, 1) * m * n;
  const regTile = (mm: number, nn: number) =>
    engine.isCpuAdapter ? pickRegisterTile(mm, nn) : GPU_REGISTER_TILE;
  let v: Exclude<MatmulVariant, "auto"> = variant === "auto"
    ? (engine.matmulVariant === "register"
      ? { kind: "register", ...regTile(m, n) }
      : { kind: "shared", ...DEFAULT_SHARED_TILE })
    : variant;
  // Split-K for Aᵀ·B with a long K and few output tiles (the weight gradient of a linear
  // layer: K = batch·pixels): the K chunks of both operands are contiguous blocks, so they
  // become a leading batch dimension of partial products, summed afterwards.
  if (tA && !tB && batch.length === 0 && variant === "auto" && k >= 2048) {
    const tile = engine.matmulVariant === "register" ? regTile(m, n) : DEFAULT_SHARED_TILE;
    const groups = Math.ceil(n / (tile.tn * tile.wx)) * Math.ceil(m / (tile.tm * tile.wy));
    const want = engine.isCpuAdapter ? 8 : 256;
    let splits = 1;
    while (
      groups * splits < want && splits < 64 && k % (splits * 2) === 0 && k / (splits * 2) >= 256
    ) splits *= 2;
    if (splits > 1) {
      const kc = k / splits;
      const va = engine.view(a, [splits, kc, m]), vb = engine.view(b, [splits, kc, n]);
      const parts = matmulKernel(engine, va, vb, { transA: true }, variant);
      const total = engine.noGrad(() => sum(parts, 0));
      for (const t of [va, vb, parts]) t.dispose();
      return total;
    }
  }
  let scalarA = false;
  if (
    v !== "scalar" && v.kind === "register" && !registerFits(m, n, k, tA, tB, v) && size > 0 &&
    k > 0
  ) {
    if (!tB && n % 4 === 0) scalarA = true;
    else if (m % 4 === 0 && (tA || registerFits(n, m, k, !tB, !tA, regTile(n, m)))) {
      // N % 4 ≠ 0 but M % 4 = 0: compute Cᵀ = op(B)ᵀ·op(A)ᵀ with the fast kernels and
      // transpose it back (a cheap copy beside the product).
      const ct = matmulKernel(engine, b, a, { transA: !tB, transB: !tA }, variant);
      const bs = batch.map((_, i) => batch.slice(i + 1).reduce((x, y) => x * y, 1) * m * n);
      const y = gatherKernel(engine, op, ct, [...batch, m, n], [...bs, 1, m], 0);
      ct.dispose();
      return y;
    } else v = "scalar";
  }
  const out = engine.empty([...batch, m, n]);
  if (out.size === 0) return out;
  if (k === 0) {
    engine.fill(out, 0);
    return out;
  }
  if (v !== "scalar" && v.kind === "register" && tA && tB) {
    v = { ...v, tm: Math.min(v.tm, MAX_TT_TILE.tm), tn: Math.min(v.tn, MAX_TT_TILE.tn) };
  }
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  const sa = broadcastStrides(aBatch, batch).map((s) => s * m * k);
  const sb = broadcastStrides(bBatch, batch).map((s) => s * k * n);
  // Merge batch dims into at most 6 (coalescing is not needed for the shapes in use).
  if (batch.length > 6) throw new ShapeError(op, `batch rank ${batch.length} > 6`);
  const nb = batch.reduce((x, y) => x * y, 1);
  const params = {
    M: m,
    N: n,
    K: k,
    rank: batch.length,
    batch,
    sa,
    sb,
    sam: tA ? 1 : k,
    sak: tA ? m : 1,
    sbk: tB ? 1 : n,
    sbn: tB ? k : 1,
  };
  const key = `matmul:${variantKey(v)}${scalarA ? "a1" : ""}:${tA ? "T" : "N"}${tB ? "T" : "N"}`;
  let wg: [number, number, number];
  const vec = v !== "scalar" && v.kind === "register";
  const kernel = engine.kernel(key, () => ({
    params: MATMUL_PARAMS,
    bindings: [
      { name: "A", type: vec && !scalarA ? "array<vec4<f32>>" : "array<f32>" },
      { name: "B", type: vec ? "array<vec4<f32>>" : "array<f32>" },
      { name: "C", access: "read_write", type: vec ? "array<vec4<f32>>" : "array<f32>" },
    ],
    code: v === "scalar"
      ? scalarMatmulWgsl(8, 8)
      : v.kind === "register"
      ? (scalarA ? registerScalarAWgsl(v) : registerMatmulWgsl(v, tA, tB))
      : sharedMatmulWgsl(v, tA, tB),
  }));
  if (v === "scalar") wg = [Math.ceil(n / 32), Math.ceil(m / 32), nb];
  else if (v.kind === "register") {
    wg = [Math.ceil(n / (v.tn * v.wx)), Math.ceil(m / (v.tm * v.wy)), nb];
  } else wg = [Math.ceil(n / (v.tn * v.wx)), Math.ceil(m / (v.tm * v.wy)), nb];
  engine.dispatch({ kernel, bindings: [a, b, out], params, workgroups: wg, op });
  return out;
}

function matmulShapes(
  op: string,
  a: Tensor,
  b: Tensor,
  tA: boolean,
  tB: boolean,
): { m: number; n: number; k: number; batch: number[] } {
  sameEngine(op, a, b);
  a.storageFor(op);
  b.storageFor(op);
  expectDtype(op, "f32", a, b);
  if (a.rank < 2 || b.rank < 2) {
    throw new ShapeError(
      op,
      `needs rank ≥ 2 operands, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`,
    );
  }
  const [m, k] = tA
    ? [a.shape[a.rank - 1], a.shape[a.rank - 2]]
    : [a.shape[a.rank - 2], a.shape[a.rank - 1]];
  const [k2, n] = tB
    ? [b.shape[b.rank - 1], b.shape[b.rank - 2]]
    : [b.shape[b.rank - 2], b.shape[b.rank - 1]];
  const desc = () =>
    `${formatShape(a.shape)}${tA ? "ᵀ" : ""} · ${formatShape(b.shape)}${tB ? "ᵀ" : ""}`;
  if (k !== k2) throw new ShapeError(op, `inner sizes differ: ${desc()} (K = ${k} vs ${k2})`);
  let batch: number[];
  try {
    batch = broadcastShapes(op, a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    throw new ShapeError(op, `batch dimensions do not broadcast: ${desc()}`);
  }
  return { m, n, k, batch };
}

/**
 * Batched matrix product `op(a) · op(b)` like `torch.matmul` on rank ≥ 2 operands, with
 * optional transposed operands (no copy) and broadcast batch dimensions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, matmul } from "@vmunet/tensor";
 * const e = await Engine.create();
 * const a = e.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
 * const b = e.tensor([1, 0, 0, 1, 1, 1], [2, 3]);
 * assert.deepEqual(Array.from(await matmul(a, b, { transB: true }).read()), [1, 6, 4, 15]); // a·bᵀ
 * e.destroy();
 * ```
 *
 * @param a `(…, M, K)`, or `(…, K, M)` with `transA`.
 * @param b `(…, K, N)`, or `(…, N, K)` with `transB`.
 * @param options Transposes.
 * @returns `(batch…, M, N)`.
 * @throws {ShapeError} when inner sizes differ or batch dims do not broadcast.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const engine = a.engine;
  const tA = options.transA ?? false, tB = options.transB ?? false;
  const y = matmulKernel(engine, a, b, options);
  engine.record("matmul", [a, b], [y], ([g]) => {
    let ga: Tensor | null = null, gb: Tensor | null = null;
    if (a.requiresGrad) {
      ga = tA ? matmul(b, g!, { transA: tB, transB: true }) : matmul(g!, b, { transB: !tB });
      ga = sumTo(ga, a.shape);
    }
    if (b.requiresGrad) {
      gb = tB ? matmul(g!, a, { transA: true, transB: tA }) : matmul(a, g!, { transA: !tA });
      gb = sumTo(gb, b.shape);
    }
    return [ga, gb];
  });
  return y;
}

/**
 * `nn.Linear`: `y = x · weightᵀ + bias` over the last dimension of any-rank `x`.
 *
 * @param x `(…, in)`.
 * @param weight `(out, in)` like PyTorch.
 * @param bias `(out)` or omitted.
 * @returns `(…, out)`.
 * @throws {ShapeError} when `x`'s last dimension differs from `in`.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const op = "linear";
  x.storageFor(op);
  weight.storageFor(op);
  if (weight.rank !== 2 || x.rank < 1 || x.shape[x.rank - 1] !== weight.shape[1]) {
    throw new ShapeError(
      op,
      `input ${formatShape(x.shape)} does not fit weight ${
        formatShape(weight.shape)
      } (needs (…, in) with weight (out, in))`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new ShapeError(
      op,
      `bias ${formatShape(bias.shape)} does not fit weight ${formatShape(weight.shape)}`,
    );
  }
  const [out, inp] = weight.shape;
  const lead = x.shape.slice(0, -1);
  const flat = reshape(x, [lead.reduce((p, d) => p * d, 1), inp]);
  let y = matmul(flat, weight, { transB: true });
  if (bias) y = add(y, bias);
  return reshape(y, [...lead, out]);
}
