/**
 * Small helpers shared by the nn ops, losses and optimizer: argument
 * checks with typed errors, and a partial-sum reduction kernel (WGSL has no float atomics,
 * so column sums over many rows are written as per-chunk partials and reduced here), plus
 * the WGSL building blocks of row kernels (lane width, 8-lane cluster sums, lane groups).
 * The row-kernel pieces are exported from `@vmunet/tensor` for custom ops.
 *
 * @module
 */

import type { Engine, KernelBinding } from "./engine.ts";
import type { Tensor } from "./tensor.ts";
import { DtypeError, formatShape, ShapeError } from "./tensor_errors.ts";
import { sameShape } from "./ops/_shape.ts";

/** Throws a {@linkcode DtypeError} unless every tensor is `f32`. */
export function expectF32(op: string, ...ts: [string, Tensor][]): void {
  for (const [name, t] of ts) {
    if (t.dtype !== "f32") {
      throw new DtypeError(op, `${name} must be f32, got ${t.dtype} ${formatShape(t.shape)}`);
    }
  }
}

/** Throws a {@linkcode ShapeError} unless `t.shape` equals `want`. */
export function expectShape(op: string, name: string, t: Tensor, want: readonly number[]): void {
  if (!sameShape(t.shape, want)) {
    throw new ShapeError(
      op,
      `${name} must have shape ${formatShape(want)}, got ${formatShape(t.shape)}`,
    );
  }
}

/** Throws a {@linkcode ShapeError} unless `t` has `rank` dims. */
export function expectRank(op: string, name: string, t: Tensor, rank: number, what: string): void {
  if (t.shape.length !== rank) {
    throw new ShapeError(op, `${name} must be ${what} (rank ${rank}), got ${formatShape(t.shape)}`);
  }
}

/** Throws a {@linkcode ShapeError} naming both tensors unless they live on the same engine. */
export function sameEngineOf(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.engine !== ts[0].engine) {
      throw new ShapeError(
        op,
        `tensors ${formatShape(t.shape)} and ${
          formatShape(ts[0].shape)
        } belong to different engines`,
      );
    }
  }
}

const REDUCE_WG = 64;

/**
 * Sums over rows of a row-major partials buffer: `out[outOffset + j] =
 * Σ_r partials[r·stride + colOffset + j]` for `j < cols`; one invocation per column
 * (dispatch only, no readback).
 *
 * @param engine The engine.
 * @param partials The partial sums.
 * @param rows Row count.
 * @param stride Words per row.
 * @param colOffset First column summed.
 * @param cols Columns summed.
 * @param out Destination tensor.
 * @param op Op name for errors.
 * @param outOffset First element of `out` written.
 */
export function sumRows(
  engine: Engine,
  partials: Tensor,
  rows: number,
  stride: number,
  colOffset: number,
  cols: number,
  out: Tensor,
  op: string,
  outOffset = 0,
): void {
  const kernel = engine.kernel("nn.sum_rows", () => ({
    params: { rows: "u32", stride: "u32", col0: "u32", cols: "u32", outOffset: "u32" },
    bindings: [{ name: "part" }, { name: "out", access: "read_write" }],
    code: /* wgsl */ `
// One invocation per column j: out[off + j] = sum over r of part[r * stride + col0 + j].
@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = lin(gid, nwg, ${REDUCE_WG}u);
  let rows = params.rows; let stride = params.stride; let col0 = params.col0;
  if (j >= params.cols) { return; }
  var s = 0.0;
  for (var r = 0u; r < rows; r++) { s += part[r * stride + col0 + j]; }
  out[params.outOffset + j] = s;
}`,
  }));
  engine.dispatch({
    kernel,
    bindings: [partials, out],
    params: { rows, stride, col0: colOffset, cols, outOffset },
    workgroups: engine.grid(cols, REDUCE_WG),
    op,
  });
}

/**
 * Column sums of the two `(rows, cols)` halves of one packed partials buffer `ab`
 * (`(2, rows, cols)`: the rows of a, then those of b) in one dispatch:
 * `outA[j] = Σ_r ab[r·cols + j]`, `outB[j] = Σ_r ab[(rows + r)·cols + j]`. Kernels write both
 * partials into one buffer so that they bind one storage buffer, not two (browsers' adapters
 * allow 8 to 10 per stage).
 *
 * @param engine The engine.
 * @param ab Both partials, packed.
 * @param rows Row count of each half.
 * @param cols Columns.
 * @param op Op name for errors.
 * @returns The sums of the a half and of the b half, `(cols)` each.
 */
export function sumRowsPair(
  engine: Engine,
  ab: Tensor,
  rows: number,
  cols: number,
  op: string,
): [Tensor, Tensor] {
  const outA = engine.empty([cols]);
  const outB = engine.empty([cols]);
  const L = rowLanes(cols);
  const { v, T } = L;
  const key = `nn.sum_rows_pair.${v}`;
  const kernel = engine.kernel(key, () => ({
    params: { rows: "u32", n: "u32" },
    bindings: L.arrays(["ab"], ["oa", "ob"]),
    code: /* wgsl */ `
// Invocations [0, n) sum a column (lane group) of the a half, [n, 2n) one of the b half.
@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${REDUCE_WG}u);
  let rows = params.rows; let n = params.n;
  if (i >= 2u * n) { return; }
  let j = i % n;
  let base = select(rows * n, 0u, i < n);
  var s = ${T}(0.0);
  for (var r = 0u; r < rows; r++) { s += ab[base + r * n + j]; }
  if (i < n) { oa[j] = s; } else { ob[j] = s; }
}`,
  }));
  const n = cols / v;
  engine.dispatch({
    kernel,
    bindings: [ab, outA, outB],
    params: { rows, n },
    workgroups: engine.grid(2 * n, REDUCE_WG),
    op,
  });
  return [outA, outB];
}

/** Chunk count so that each of `n` items' chunks has about `target` elements. */
export function chunksOf(n: number, target: number): { chunks: number; per: number } {
  const chunks = Math.max(1, Math.ceil(n / target));
  return { chunks, per: Math.ceil(n / chunks) };
}

/** WGSL element type of a row kernel and how to sum one element's lanes. */
export interface RowLanes {
  /** Floats per element: 4 when the row length is a multiple of 4, else 1. */
  v: number;
  /** WGSL type of one element (`vec4<f32>` or `f32`). */
  T: string;
  /** WGSL expression summing the lanes of the element expression `e`. */
  sum: (e: string) => string;
  /**
   * Storage bindings of arrays of `T`: the `read` names, then the `written` ones
   * (`read_write`), in order.
   */
  arrays: (read: readonly string[], written?: readonly string[]) => KernelBinding[];
}

/**
 * How a row kernel reads rows of length `c`: as vec4s when `c % 4 == 0`, else as scalars.
 *
 * @param c Row length.
 * @returns Width, WGSL type, lane sum and typed bindings.
 */
export function rowLanes(c: number): RowLanes {
  const [v, T] = c % 4 === 0 ? [4, "vec4<f32>"] : [1, "f32"];
  return {
    v,
    T,
    sum: v === 4 ? (e) => `dot(${e}, vec4<f32>(1.0))` : (e) => e,
    arrays: (read, written = []) => [
      ...read.map((name) => ({ name, type: `array<${T}>` })),
      ...written.map((name) => ({ name, access: "read_write" as const, type: `array<${T}>` })),
    ],
  };
}

/**
 * WGSL statements computing a row's `mean` and `rstd = 1/√(var + eps)` (two passes) for a
 * row kernel: `n` lane groups, row length `c` and `eps` must be in scope, `load` reads
 * lane group `j` of the row.
 *
 * @param L The row's lanes (from {@linkcode rowLanes}).
 * @param load WGSL expression of lane group `j`, e.g. `x[base + j]`.
 * @returns WGSL statements declaring `mean` and `rstd`.
 */
export function rowMoments(L: RowLanes, load: string): string {
  return `var s = ${L.T}(0.0);
  for (var j = 0u; j < n; j++) { s += ${load}; }
  let mean = ${L.sum("s")} / f32(c);
  var q = ${L.T}(0.0);
  for (var j = 0u; j < n; j++) { let d = ${load} - mean; q += d * d; }
  let rstd = 1.0 / sqrt(${L.sum("q")} / f32(c) + eps);`;
}

/**
 * The `main` of a row kernel, one invocation per row: binds `row`, `rows`, `c` (and `eps`
 * when the kernel declares it), `n` lane groups and the row's first lane group `base`,
 * returns past the last row, then runs `body`.
 *
 * @param wg Workgroup size.
 * @param L The row's lanes (from {@linkcode rowLanes}).
 * @param withEps Whether the kernel's params include `eps`.
 * @param body WGSL statements for the row.
 * @returns WGSL source of `main`.
 */
export function rowKernelWgsl(wg: number, L: RowLanes, withEps: boolean, body: string): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = lin(gid, nwg, ${wg}u);
  let rows = params.rows; let c = params.c;${withEps ? " let eps = params.eps;" : ""}
  if (row >= rows) { return; }
  let n = c / ${L.v}u;
  let base = row * n;
${body}
}`;
}

/**
 * WGSL statements of a LayerNorm backward row: loads the row's saved `mean` and `rstd`
 * (from `stats`) and sums `g = gy·w` and `g·(x − mean)` over the row into `sg`, `sgx`.
 *
 * @param L The row's lanes.
 * @returns WGSL statements declaring `mean`, `rstd`, `sg` and `sgx`.
 */
export function rowGradSums(L: RowLanes): string {
  return `let mean = stats[2u * row]; let rstd = stats[2u * row + 1u];
  var sg = ${L.T}(0.0); var sgx = ${L.T}(0.0);
  for (var j = 0u; j < n; j++) {
    let g = gy[base + j] * w[j];
    sg += g;
    sgx += g * (x[base + j] - mean);
  }`;
}

/** Params of a {@linkcode columnChunksWgsl} kernel: rows, lane groups per row, rows per chunk. */
export const COLUMN_CHUNK_PARAMS = { rows: "u32", n: "u32", per: "u32" } as const;

/**
 * The `main` of a column-walking kernel: workgroup (lane block, row chunk), each lane walks
 * the chunk's rows `r` at lane group `j` (row statistics are uniform loads) with the
 * accumulators `sw`, `sb` of type `T`; dispatch it over
 * `engine.gridRows(ceil(n / wg), chunks)` with {@linkcode COLUMN_CHUNK_PARAMS}.
 *
 * @param wg Workgroup size (from {@linkcode laneGroupSize}).
 * @param T WGSL type of a lane group.
 * @param before Statements before the row loop (`j` is valid there).
 * @param body Statements per row `r`.
 * @param after Statements after the loop (store the partials of `chunk`).
 * @returns WGSL source of `main`.
 */
export function columnChunksWgsl(
  wg: number,
  T: string,
  before: string,
  body: string,
  after: string,
): string {
  return `@compute @workgroup_size(${wg})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let rows = params.rows; let n = params.n; let per = params.per;
  let chunk = wid.y + wid.z * nwg.y;
  let j = wid.x * ${wg}u + li;
  if (j >= n) { return; }
  ${before}
  let r1 = min(rows, (chunk + 1u) * per);
  var sw = ${T}(0.0); var sb = ${T}(0.0);
  for (var r = chunk * per; r < r1; r++) {
    ${body}
  }
  ${after}
}`;
}

/**
 * WGSL statements summing `v` over aligned clusters of 8 subgroup lanes (a butterfly of
 * `subgroupShuffleXor`): every lane of the cluster gets the sum in the new variable `out`.
 * Every lane must execute it (uniform control flow).
 *
 * @param v WGSL expression or variable to sum.
 * @param out Name of the variable to declare.
 * @returns WGSL statements.
 */
export function clusterSum8(v: string, out: string): string {
  return `var ${out} = ${v} + subgroupShuffleXor(${v}, 1u); ` +
    `${out} += subgroupShuffleXor(${out}, 2u); ${out} += subgroupShuffleXor(${out}, 4u);`;
}

/**
 * WGSL statements of a per-row kernel over 8-row clusters that sum the weight and bias
 * gradient partials of channel lane group `j` over the cluster ({@linkcode clusterSum8} of
 * `grad·keep·xh` and `grad·keep`) and let the cluster's first lane store them: ∂w partials
 * at `pwb[slot + j]`, ∂b partials `⌈rows / 8⌉·n` further on. Expects in scope: `keep` (0 for
 * clamped rows past the end, else 1), `valid`, `lane`, `slot` (the cluster's first partial
 * index), `rows`, `n` (lane groups per row) and the `pwb` binding. Every lane must execute it.
 *
 * @param grad WGSL expression of the gradient reaching the normalised value (`∂y·w` before
 *   the weight: `∂y` for LayerNorm).
 * @param xh WGSL expression of the normalised value x̂.
 * @param prefix Prefix of the declared `${prefix}k` and `${prefix}x` temporaries.
 * @returns WGSL statements.
 *
 * @example
 * ```ts
 * import { clusterPartialsWgsl } from "@vmunet/tensor/kernels";
 * const wgsl = clusterPartialsWgsl("gj", "xh", "g");
 * if (!wgsl.startsWith("let gk = gj * keep; let gx = gk * xh;")) throw new Error(wgsl);
 * if (!wgsl.includes("pwb[slot + j] = cw;")) throw new Error(wgsl);
 * ```
 */
export function clusterPartialsWgsl(grad: string, xh: string, prefix: string): string {
  const k = `${prefix}k`, kx = `${prefix}x`;
  return `let ${k} = ${grad} * keep; let ${kx} = ${k} * ${xh};
    ${clusterSum8(kx, "cw")}
    ${clusterSum8(k, "cb")}
    if (valid && lane % 8u == 0u) { pwb[slot + j] = cw; pwb[(rows + 7u) / 8u * n + slot + j] = cb; }`;
}

/**
 * Workgroup size of a column-walking kernel over `n` lane groups of a row: one invocation
 * per lane group, at least 8 and at most 64.
 *
 * @param n Lane groups per row.
 * @returns Workgroup size.
 */
export function laneGroupSize(n: number): number {
  let wg = 8;
  while (wg < n && wg < 64) wg *= 2;
  return wg;
}
