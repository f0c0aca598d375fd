/**
 * Small helpers shared by the nn ops, losses and optimizer: a params builder, argument
 * checks with typed errors, and a partial-sum reduction kernel (WGSL has no float atomics,
 * so column sums over many rows are written as per-chunk partials and reduced here), plus
 * the WGSL building blocks of row kernels (lane width, 8-lane cluster sums, lane groups).
 * The row-kernel pieces are exported from `@vmunet/tensor` for custom ops.
 *
 * @module
 */

import { type Engine, grid1d } from "./engine.ts";
import type { Tensor } from "./tensor.ts";
import { DtypeError, formatShape, ShapeError } from "./tensor_errors.ts";

/** Params words of a dispatch: u32 and f32 values packed in order. */
export class Words {
  #u = new Uint32Array(64);
  #f = new Float32Array(this.#u.buffer);
  #n = 0;

  /** Appends u32 words. */
  u(...values: number[]): this {
    for (const v of values) this.#u[this.#n++] = v >>> 0;
    return this;
  }

  /** Appends f32 words. */
  f(...values: number[]): this {
    for (const v of values) this.#f[this.#n++] = v;
    return this;
  }

  /** The packed words. */
  get words(): Uint32Array {
    return this.#u.subarray(0, this.#n);
  }
}

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
  if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
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
  const kernel = engine.kernel(() => ({
    key: "nn.sum_rows",
    bindings: [{ name: "part" }, { name: "out", access: "read_write" }],
    code: /* wgsl */ `
// One invocation per column j: out[off + j] = sum over r of part[r * stride + col0 + j].
@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = lin(gid, nwg, ${REDUCE_WG}u);
  let rows = pu(0u); let stride = pu(1u); let col0 = pu(2u);
  if (j >= pu(3u)) { return; }
  var s = 0.0;
  for (var r = 0u; r < rows; r++) { s += part[r * stride + col0 + j]; }
  out[pu(4u) + j] = s;
}`,
  }), "nn.sum_rows");
  engine.dispatch({
    kernel,
    bindings: [partials, out],
    params: [rows, stride, colOffset, cols, outOffset],
    workgroups: grid1d(cols, REDUCE_WG),
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
  const { v, T } = rowLanes(cols);
  const key = `nn.sum_rows_pair.${v}`;
  const kernel = engine.kernel(() => ({
    key,
    bindings: [
      { name: "ab", type: `array<${T}>` },
      { name: "oa", access: "read_write", type: `array<${T}>` },
      { name: "ob", access: "read_write", type: `array<${T}>` },
    ],
    code: /* wgsl */ `
// Invocations [0, n) sum a column (lane group) of the a half, [n, 2n) one of the b half.
@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${REDUCE_WG}u);
  let rows = pu(0u); let n = pu(1u);
  if (i >= 2u * n) { return; }
  let j = i % n;
  let base = select(rows * n, 0u, i < n);
  var s = ${T}(0.0);
  for (var r = 0u; r < rows; r++) { s += ab[base + r * n + j]; }
  if (i < n) { oa[j] = s; } else { ob[j] = s; }
}`,
  }), key);
  const n = cols / v;
  engine.dispatch({
    kernel,
    bindings: [ab, outA, outB],
    params: [rows, n],
    workgroups: grid1d(2 * n, REDUCE_WG),
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
}

/**
 * How a row kernel reads rows of length `c`: as vec4s when `c % 4 == 0`, else as scalars.
 *
 * @param c Row length.
 * @returns Width, WGSL type and lane sum.
 */
export function rowLanes(c: number): RowLanes {
  return c % 4 === 0
    ? { v: 4, T: "vec4<f32>", sum: (e) => `dot(${e}, vec4<f32>(1.0))` }
    : { v: 1, T: "f32", sum: (e) => e };
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
