/**
 * LayerNorm over the last dimension (PyTorch `nn.LayerNorm(C, eps)`), forward and backward.
 *
 * @module
 */

import type { KernelBinding } from "../engine.ts";
import type { Tensor } from "../tensor.ts";
import { ShapeError } from "../tensor_errors.ts";
import {
  chunksOf,
  clusterPartialsWgsl,
  COLUMN_CHUNK_PARAMS,
  columnChunksWgsl,
  expectF32,
  expectShape,
  laneGroupSize,
  rowGradSums,
  rowKernelWgsl,
  rowLanes,
  rowMoments,
  sameEngineOf,
  sumRowsPair,
} from "../_nn_util.ts";

const WG = 64;
/**
 * Rows per partial sum of the weight/bias gradients: short column walks (long ones measured
 * up to 2× slower on lavapipe for 192-wide rows) and many workgroups.
 */
const ROWS_PER_CHUNK = 16;

const SG_WG = 64;

/**
 * Start of the subgroup kernels: one subgroup per row, lane `l` takes elements l, l + sgs, …
 * (adjacent lanes read adjacent words), sums by `subgroupAdd` (no barriers). Rows past the
 * end run with a clamped row index (subgroup ops stay in uniform control flow) and store
 * nothing. Workgroups are counted for the largest subgroup size.
 */
const SUBGROUP_ROW_PRELUDE = /* wgsl */ `
@compute @workgroup_size(${SG_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgs: u32) {
  let rows = params.rows; let c = params.c;
  let row0 = (wid.x + wid.y * nwg.x) * (${SG_WG}u / sgs) + li / sgs;
  let valid = row0 < rows;
  let row = min(row0, rows - 1u);
  let base = row * c;`;

/**
 * Kernel choice of {@linkcode layerNorm}: `variant` `"auto"` (default) uses one subgroup per
 * row (coalesced loads, `subgroupAdd` reductions) on hardware adapters with subgroups and
 * one invocation per row on CPU adapters such as lavapipe (measured faster there);
 * `"subgroup"` or `"row"` force one. `cacheRow` holds rows of ≤ 256 words in a private array
 * in the row kernels (one read of x instead of three); off by default, it measured slower
 * on lavapipe (the array spills) and no faster on an H200. `backward` picks how the weight
 * and bias gradients are summed over rows: `"cluster"` inside the per-row ∂x kernel over
 * clusters of 8 rows with subgroup shuffles (needs 8-lane subgroups; one pass over x and
 * ∂y), `"column"` in a channel-lane kernel over 16-row chunks; `"auto"` (default) takes
 * `"cluster"` on CPU adapters with 8-lane subgroups and with the row variant.
 */
export const layerNormConfig: {
  variant: "auto" | "subgroup" | "row";
  cacheRow: boolean;
  backward: "auto" | "cluster" | "column";
} = {
  variant: "auto",
  cacheRow: false,
  backward: "auto",
};

/** Whether the backward sums weight/bias gradients over 8-lane clusters of the row kernel. */
function clusteredBackward(engine: Tensor["engine"]): boolean {
  const info = engine.gpu.adapterInfo;
  const eight = engine.gpu.subgroups && info.subgroupMinSize === 8 && info.subgroupMaxSize === 8;
  const b = layerNormConfig.backward;
  if (!eight || b === "column") return false;
  return b === "cluster" || (subgroupSize(engine) === 0 && engine.isCpuAdapter);
}

/** Largest subgroup size when the subgroup kernels are used, else 0. */
function subgroupSize(engine: Tensor["engine"]): number {
  const v = layerNormConfig.variant;
  if (v === "row" || !engine.gpu.subgroups) return 0;
  if (v === "auto" && engine.isCpuAdapter) return 0;
  const max = engine.gpu.adapterInfo.subgroupMaxSize;
  return max >= 4 && max <= SG_WG ? max : 0;
}

/** Rows up to this many words are held in registers (one global read per element). */
const MAX_CACHED_WORDS = 256;

/** Row length (in lanes) held in a private array, or 0 to re-read the row from memory. */
function cachedRow(c: number, v: number): number {
  return layerNormConfig.cacheRow && c <= MAX_CACHED_WORDS ? c / v : 0;
}

/**
 * WGSL that makes `X(j)` the j-th lane group of the current row: a private copy when the
 * row is short (the kernel is then specialised for that row length), else a global load.
 */
function loadRow(c: number, v: number, T: string): string {
  const n = cachedRow(c, v);
  if (n === 0) return "";
  return `  var xrow: array<${T}, ${n}>;
  for (var j = 0u; j < ${n}u; j++) { xrow[j] = x[base + j]; }`;
}

/**
 * `y = (x − mean)/√(var + eps) · weight + bias` over the last dim of `x` (biased variance,
 * as PyTorch). One fused kernel; backward gives ∂x, ∂weight, ∂bias (weight and bias
 * gradients through per-chunk partial sums and a reduction pass).
 *
 * @param x Input `(…, C)`, f32.
 * @param weight `(C)`.
 * @param bias `(C)`.
 * @param eps Added to the variance (VM-UNet: 1e-5).
 * @returns The normalised tensor, same shape as `x`.
 * @throws {ShapeError} when weight/bias are not `(C)`; {@linkcode DtypeError} for i32 inputs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, layerNorm } from "@vmunet/tensor";
 * const engine = await Engine.create();
 * const x = engine.tensor([1, 2, 3, 4, 6, 8], [2, 3]);
 * const y = layerNorm(x, engine.tensor([1, 1, 1], [3]), engine.tensor([0, 0, 0], [3]), 1e-5);
 * const want = [-1.2247, 0, 1.2247, -1.2247, 0, 1.2247]; // (x − mean)/√(var + eps) per row
 * (await y.read()).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-3));
 * engine.destroy();
 * ```
 */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number = 1e-5): Tensor {
  const op = "layerNorm";
  sameEngineOf(op, x, weight, bias);
  expectF32(op, ["x", x], ["weight", weight], ["bias", bias]);
  if (x.rank < 1) throw new ShapeError(op, `x must have at least one dim, got a scalar`);
  const c = x.shape[x.rank - 1];
  expectShape(op, "weight", weight, [c]);
  expectShape(op, "bias", bias, [c]);
  const engine = x.engine;
  const rows = c === 0 ? 0 : x.size / c;
  const y = engine.empty(x.shape);
  const stats = engine.empty([rows, 2]);
  const sg = subgroupSize(engine);
  if (rows > 0 && c > 0 && sg > 0) {
    engine.dispatch({
      kernel: engine.kernel("nn.layer_norm.fwd.sg", () => ({
        params: { rows: "u32", c: "u32", eps: "f32" },
        bindings: [
          { name: "x" },
          { name: "w" },
          { name: "b" },
          { name: "y", access: "read_write" },
          { name: "stats", access: "read_write" },
        ],
        code: /* wgsl */ `${SUBGROUP_ROW_PRELUDE}
  var s = 0.0;
  for (var j = lane; j < c; j += sgs) { s += x[base + j]; }
  let mean = subgroupAdd(s) / f32(c);
  var q = 0.0;
  for (var j = lane; j < c; j += sgs) { let d = x[base + j] - mean; q += d * d; }
  let rstd = 1.0 / sqrt(subgroupAdd(q) / f32(c) + params.eps);
  if (!valid) { return; }
  for (var j = lane; j < c; j += sgs) { y[base + j] = (x[base + j] - mean) * rstd * w[j] + b[j]; }
  if (lane == 0u) { stats[2u * row] = mean; stats[2u * row + 1u] = rstd; }
}`,
      })),
      bindings: [x, weight, bias, y, stats],
      params: { rows, c, eps },
      workgroups: engine.grid(rows * sg, SG_WG),
      op,
    });
  } else if (rows > 0 && c > 0) {
    const L = rowLanes(c);
    const key = `nn.layer_norm.fwd.${L.v}.${cachedRow(c, L.v)}`;
    const kernel = engine.kernel(key, () => ({
      params: { rows: "u32", c: "u32", eps: "f32" },
      bindings: [...L.arrays(["x", "w", "b"], ["y"]), { name: "stats", access: "read_write" }],
      code: /* wgsl */ `
// One invocation per row: two passes for mean and variance, one for the output.
${
        rowKernelWgsl(
          WG,
          L,
          true,
          `${loadRow(c, L.v, L.T)}
  ${rowMoments(L, "X(j)")}
  for (var j = 0u; j < n; j++) { y[base + j] = (X(j) - mean) * rstd * w[j] + b[j]; }
  stats[2u * row] = mean;
  stats[2u * row + 1u] = rstd;`,
        )
      }`.replaceAll("X(j)", cachedRow(c, L.v) ? "xrow[j]" : "x[base + j]"),
    }));
    engine.dispatch({
      kernel,
      bindings: [x, weight, bias, y, stats],
      params: { rows, c, eps },
      workgroups: engine.grid(rows, WG),
      op,
    });
  }
  engine.record(op, [x, weight, bias], [y], ([gy]) => {
    if (!gy || rows === 0 || c === 0) return [null, null, null];
    return layerNormBackward(x, weight, stats, gy, [
      x.requiresGrad,
      weight.requiresGrad || bias.requiresGrad,
    ]);
  });
  return y;
}

/**
 * Gradients of LayerNorm given the saved row statistics (mean, rstd), in two or three
 * dispatches: the row sums `Σ g` and `Σ g·x̂` (g = gy·w; skipped when x needs no gradient),
 * then one kernel whose lanes run across the channels of a chunk of rows (the row, its
 * statistics and row sums are uniform over the workgroup) writing ∂x and the chunk's
 * partial ∂w, ∂b, then one reduction of the partials when there are several chunks.
 */
function layerNormBackward(
  x: Tensor,
  weight: Tensor,
  stats: Tensor,
  gy: Tensor,
  need: [boolean, boolean],
): (Tensor | null)[] {
  const engine = x.engine;
  const c = x.shape[x.rank - 1];
  const rows = x.size / c;
  const L = rowLanes(c);
  const n = c / L.v;
  // Every backward kernel binds x, w, the row statistics and ∂y first.
  const inputs = [...L.arrays(["x", "w"]), { name: "stats" }, ...L.arrays(["gy"])];
  if (need[0] && clusteredBackward(engine)) {
    return clusterBackward([x, weight, stats, gy], inputs, need[1]);
  }
  const op = "layerNorm.backward";
  let sums: Tensor | null = null;
  const sg = subgroupSize(engine);
  if (need[0] && sg > 0) {
    sums = engine.empty([rows, 2]);
    engine.dispatch({
      kernel: engine.kernel("nn.layer_norm.bwd_sums.sg", () => ({
        params: { rows: "u32", c: "u32" },
        bindings: [
          { name: "x" },
          { name: "w" },
          { name: "stats" },
          { name: "gy" },
          { name: "sums", access: "read_write" },
        ],
        code: /* wgsl */ `${SUBGROUP_ROW_PRELUDE}
  let mean = stats[2u * row]; let rstd = stats[2u * row + 1u];
  var sg = 0.0; var sgx = 0.0;
  for (var j = lane; j < c; j += sgs) {
    let g = gy[base + j] * w[j];
    sg += g;
    sgx += g * (x[base + j] - mean) * rstd;
  }
  let mg = subgroupAdd(sg) / f32(c); let mgx = subgroupAdd(sgx) / f32(c);
  if (valid && lane == 0u) { sums[2u * row] = mg; sums[2u * row + 1u] = mgx; }
}`,
      })),
      bindings: [x, weight, stats, gy, sums],
      params: { rows, c },
      workgroups: engine.grid(rows * sg, SG_WG),
      op,
    });
  } else if (need[0]) {
    sums = engine.empty([rows, 2]);
    const key = `nn.layer_norm.bwd_sums.${L.v}`;
    engine.dispatch({
      kernel: engine.kernel(key, () => ({
        params: { rows: "u32", c: "u32" },
        bindings: [...inputs, { name: "sums", access: "read_write" }],
        code: /* wgsl */ `
// One invocation per row: mean(g) and mean(g·x̂) with g = gy·w.
${
          rowKernelWgsl(
            WG,
            L,
            false,
            `  ${rowGradSums(L)}
  sums[2u * row] = ${L.sum("sg")} / f32(c);
  sums[2u * row + 1u] = ${L.sum("sgx")} * rstd / f32(c);`,
          )
        }`,
      })),
      bindings: [x, weight, stats, gy, sums],
      params: { rows, c },
      workgroups: engine.grid(rows, WG),
      op,
    });
  }
  const { chunks, per } = chunksOf(rows, ROWS_PER_CHUNK);
  const wg = laneGroupSize(n);
  const wantDx = sums !== null, wantWb = need[1];
  // One chunk: the partial sums are the gradients themselves.
  const dx = wantDx ? engine.empty(x.shape) : null;
  // The ∂w and ∂b partials, packed (one binding): ∂w rows, then ∂b rows.
  const pwb = wantWb ? engine.empty([2, chunks, c]) : null;
  const key = `nn.layer_norm.bwd.${L.v}.${wg}.${wantDx ? "x" : ""}${wantWb ? "wb" : ""}`;
  const outs = [...(wantDx ? ["dx"] : []), ...(wantWb ? ["pwb"] : [])];
  const kernel = engine.kernel(key, () => ({
    params: COLUMN_CHUNK_PARAMS,
    bindings: [...inputs, { name: "sums" }, ...L.arrays([], outs)],
    code: /* wgsl */ `
// Workgroup (lane group block, row chunk): each lane walks the chunk's rows at one lane group
// of channels; row statistics and row sums are uniform loads.
${
      columnChunksWgsl(
        wg,
        L.T,
        "let wj = w[j];",
        `let mean = stats[2u * r]; let rstd = stats[2u * r + 1u];
    let g = gy[r * n + j];
    let xh = (x[r * n + j] - mean) * rstd;
    ${wantWb ? "sw += g * xh; sb += g;" : ""}
    ${wantDx ? "dx[r * n + j] = rstd * (g * wj - sums[2u * r] - xh * sums[2u * r + 1u]);" : ""}`,
        wantWb
          ? "pwb[chunk * n + j] = sw; pwb[((rows + per - 1u) / per + chunk) * n + j] = sb;"
          : "",
      )
    }`,
  }));
  engine.dispatch({
    kernel,
    bindings: [
      x,
      weight,
      stats,
      gy,
      sums ?? stats,
      ...(dx ? [dx] : []),
      ...(pwb ? [pwb] : []),
    ],
    params: { rows, n, per },
    workgroups: engine.gridRows(Math.ceil(n / wg), chunks),
    op,
  });
  if (!pwb) return [dx, null, null];
  return [dx, ...sumRowsPair(engine, pwb, chunks, c, op)];
}

/**
 * The backward in one row kernel (one invocation per row, 8-lane subgroups: lavapipe):
 * pass 1 takes the row sums, pass 2 writes ∂x and, when asked, sums `gy·x̂` and `gy` over
 * each cluster of 8 consecutive rows into a partial row; then one reduction of the
 * partials. Reads x and ∂y twice, like the plain ∂x kernel, and nothing more.
 */
function clusterBackward(
  [x, weight, stats, gy]: readonly [Tensor, Tensor, Tensor, Tensor],
  inputs: readonly KernelBinding[],
  wantWb: boolean,
): (Tensor | null)[] {
  const engine = x.engine;
  const op = "layerNorm.backward";
  const c = x.shape[x.rank - 1];
  const rows = x.size / c;
  const L = rowLanes(c);
  const slots = Math.ceil(rows / 8);
  const dx = engine.empty(x.shape);
  // The ∂w and ∂b partials, packed (one binding): ∂w rows, then ∂b rows.
  const pwb = wantWb ? engine.empty([2, slots, c]) : null;
  const key = `nn.layer_norm.bwd_x.cluster.${L.v}.${wantWb ? "wb" : "x"}`;
  const kernel = engine.kernel(key, () => ({
    params: { rows: "u32", c: "u32" },
    bindings: [...inputs, ...L.arrays([], wantWb ? ["dx", "pwb"] : ["dx"])],
    code: /* wgsl */ `
// One invocation per row: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = gy·w; rows past
// the end run clamped with zero weight (the shuffles need every lane) and store nothing.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32) {
  let row0 = lin(gid, nwg, ${WG}u);
  let rows = params.rows; let c = params.c;
  let valid = row0 < rows; let row = min(row0, rows - 1u);
  let n = c / ${L.v}u;
  let base = row * n;
  ${rowGradSums(L)}
  let mg = ${L.sum("sg")} / f32(c); let mgx = ${L.sum("sgx")} * rstd / f32(c);
  let keep = select(0.0, 1.0, valid); let slot = (row0 - lane % 8u) / 8u * n;
  for (var j = 0u; j < n; j++) {
    let gj = gy[base + j];
    let xh = (x[base + j] - mean) * rstd;
    if (valid) { dx[base + j] = rstd * (gj * w[j] - mg - xh * mgx); }
    ${wantWb ? clusterPartialsWgsl("gj", "xh", "g") : ""}
  }
}`,
  }));
  engine.dispatch({
    kernel,
    bindings: [x, weight, stats, gy, dx, ...(pwb ? [pwb] : [])],
    params: { rows, c },
    workgroups: engine.grid(rows, WG),
    op,
  });
  if (!pwb) return [dx, null, null];
  return [dx, ...sumRowsPair(engine, pwb, slots, c, op)];
}
