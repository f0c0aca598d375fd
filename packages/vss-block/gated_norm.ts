/**
 * SS2D's output gate `LayerNorm(y) · SiLU(z)` (docs/spec.md §3.3 step 8) as one differentiable
 * op: one forward kernel instead of LayerNorm, SiLU and a product, and a backward of three
 * dispatches (row sums; ∂y, ∂z and partial ∂weight/∂bias; their reduction) instead of
 * the three ops' seven or more. Same formulas as the separate ops (biased variance,
 * `silu(z) = z / (1 + e^{−z})`).
 *
 * @module
 */

import { DtypeError, type Engine, ShapeError, type Tensor } from "@vmunet/tensor";
import {
  chunksOf,
  clusterPartialsWgsl,
  COLUMN_CHUNK_PARAMS,
  columnChunksWgsl,
  defineOp,
  formatShape,
  laneGroupSize,
  rowKernelWgsl,
  rowLanes,
  rowMoments,
  sumRowsPair,
} from "@vmunet/tensor/kernels";

const WG = 64;

/**
 * Kernel choice of {@linkcode gatedNorm}'s weight/bias gradients: `"auto"` (default) sums
 * them inside the row kernel over clusters of 8 rows with subgroup shuffles on CPU adapters
 * whose subgroups are exactly 8 lanes (lavapipe: no second pass over the inputs), and in a
 * channel-lane kernel over row chunks elsewhere; `"cluster"` or `"column"` force one
 * (`"cluster"` needs 8-lane subgroups).
 */
export const gatedNormConfig: { variant: "auto" | "cluster" | "column" } = { variant: "auto" };

/** Whether the weight/bias partial sums come from 8-lane clusters of the row kernel. */
function clustered(engine: Engine): boolean {
  const v = gatedNormConfig.variant;
  const info = engine.gpu.adapterInfo;
  const eight = engine.gpu.subgroups && info.subgroupMinSize === 8 && info.subgroupMaxSize === 8;
  if (v === "column" || !eight) return false;
  return v === "cluster" || engine.isCpuAdapter;
}
/** Rows per partial sum of the weight/bias gradients (short column walks, many workgroups). */
const ROWS_PER_CHUNK = 16;

function forwardKernel(engine: Engine, c: number) {
  const L = rowLanes(c);
  const key = `ss2d.gated_norm.fwd.${L.v}`;
  return engine.kernel(key, () => ({
    params: { rows: "u32", c: "u32", eps: "f32" },
    bindings: [...L.arrays(["y", "z", "w", "b"], ["out"]), { name: "stats", access: "read_write" }],
    code: /* wgsl */ `
// One invocation per row: mean, variance, then (ŷ·w + b)·silu(z); saves (mean, rstd).
${
      rowKernelWgsl(
        WG,
        L,
        true,
        `  ${rowMoments(L, "y[base + j]")}
  for (var j = 0u; j < n; j++) {
    let zz = z[base + j];
    out[base + j] = ((y[base + j] - mean) * rstd * w[j] + b[j]) * (zz * (1.0 / (1.0 + exp(-zz))));
  }
  stats[2u * row] = mean;
  stats[2u * row + 1u] = rstd;`,
      )
    }`,
  }));
}

function rowKernel(engine: Engine, c: number, partials: boolean) {
  const L = rowLanes(c);
  const key = `ss2d.gated_norm.bwd_yz.${L.v}.${partials ? "sg8" : "plain"}`;
  return engine.kernel(key, () => ({
    params: { rows: "u32", c: "u32" },
    // Weight and bias come packed in one buffer (w, then b) and the partial ∂w, ∂b go out
    // packed too, so the kernel binds 9 storage buffers (8 without partials), within what
    // browsers' adapters allow per stage.
    bindings: [
      ...L.arrays(["y", "z", "wb", "g"]),
      { name: "stats" },
      ...L.arrays([], partials ? ["dy", "dz", "pwb"] : ["dy", "dz"]),
    ],
    code: /* wgsl */ `
// One invocation per row. With dn = g·silu(z) (the gradient reaching the LayerNorm output):
// pass 1 takes mean(dn·w) and mean(dn·w·ŷ), pass 2 writes ∂y = rstd·(dn·w − m1 − ŷ·m2) and
// ∂z = g·(ŷ·w + b)·silu'(z)${
      partials
        ? `, and sums dn·ŷ and dn over each cluster of 8 lanes (8
// consecutive rows) into the partial ∂w, ∂b row of the cluster. Rows past the end run
// clamped with zero weight (the shuffles need every lane) and store nothing.`
        : "."
    }
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>${
      partials ? ", @builtin(subgroup_invocation_id) lane: u32" : ""
    }) {
  let row0 = lin(gid, nwg, ${WG}u);
  let rows = params.rows; let c = params.c;
  ${
      partials
        ? "let valid = row0 < rows; let row = min(row0, rows - 1u);"
        : "if (row0 >= rows) { return; } let row = row0;"
    }
  let n = c / ${L.v}u;
  let base = row * n;
  let mean = stats[2u * row]; let rstd = stats[2u * row + 1u];
  var s1 = ${L.T}(0.0); var s2 = ${L.T}(0.0);
  for (var j = 0u; j < n; j++) {
    let zz = z[base + j];
    let gw = g[base + j] * (zz * (1.0 / (1.0 + exp(-zz)))) * wb[j];
    s1 += gw;
    s2 += gw * (y[base + j] - mean);
  }
  let m1 = ${L.sum("s1")} / f32(c);
  let m2 = ${L.sum("s2")} * rstd / f32(c);
  ${partials ? "let keep = select(0.0, 1.0, valid); let slot = (row0 - lane % 8u) / 8u * n;" : ""}
  for (var j = 0u; j < n; j++) {
    let zz = z[base + j]; let gg = g[base + j];
    let sig = 1.0 / (1.0 + exp(-zz));
    let xh = (y[base + j] - mean) * rstd;
    let dn = gg * (zz * sig);
    ${partials ? "if (valid) {" : "{"}
      dz[base + j] = gg * (xh * wb[j] + wb[n + j]) * sig * (1.0 + zz * (1.0 - sig));
      dy[base + j] = rstd * (dn * wb[j] - m1 - xh * m2);
    }
    ${partials ? clusterPartialsWgsl("dn", "xh", "dn") : ""}
  }
}`,
  }));
}

function partialsKernel(engine: Engine, c: number, wg: number) {
  const L = rowLanes(c);
  const key = `ss2d.gated_norm.bwd_wb_part.${L.v}.${wg}`;
  return engine.kernel(key, () => ({
    params: COLUMN_CHUNK_PARAMS,
    bindings: [...L.arrays(["y", "z", "g"]), { name: "stats" }, ...L.arrays([], ["pwb"])],
    code: /* wgsl */ `
// Workgroup (lane block, row chunk): each lane walks the chunk's rows at one lane group of
// channels (row statistics are uniform loads): partial ∂w = Σ dn·ŷ and ∂b = Σ dn.
${
      columnChunksWgsl(
        wg,
        L.T,
        "",
        `let i = r * n + j;
    let zz = z[i];
    let dn = g[i] * (zz * (1.0 / (1.0 + exp(-zz))));
    sw += dn * (y[i] - stats[2u * r]) * stats[2u * r + 1u];
    sb += dn;`,
        "pwb[chunk * n + j] = sw; pwb[((rows + per - 1u) / per + chunk) * n + j] = sb;",
      )
    }`,
  }));
}

const gatedNormOp = defineOp<{ eps: number }, { stats: Tensor }>({
  name: "gatedNorm",
  forward(engine, [y, z, w, b], { eps }) {
    const c = y.shape[y.rank - 1];
    const rows = y.size / c;
    const out = engine.empty(y.shape);
    const stats = engine.empty([rows, 2]);
    engine.dispatch({
      kernel: forwardKernel(engine, c),
      bindings: [y, z, w, b, out, stats],
      params: { rows, c, eps },
      workgroups: engine.grid(rows, WG),
      op: "gatedNorm",
    });
    return { outputs: [out], saved: { stats } };
  },
  backward({ engine, inputs: [y, z, w, b], gradOutputs: [g], saved }) {
    if (!g || !saved) return [null, null, null, null];
    const op = "gatedNorm.backward";
    const c = y.shape[y.rank - 1];
    const rows = y.size / c;
    const n = c / rowLanes(c).v;
    const dy = engine.empty(y.shape);
    const dz = engine.empty(z.shape);
    // Weight and bias packed into one binding: w, then b.
    const wb = engine.empty([2, c]);
    const copy = engine.commandEncoder();
    copy.copyBufferToBuffer(w.storageFor(op).buffer, 0, wb.storageFor(op).buffer, 0, c * 4);
    copy.copyBufferToBuffer(b.storageFor(op).buffer, 0, wb.storageFor(op).buffer, c * 4, c * 4);
    let pwb: Tensor, chunks: number;
    if (clustered(engine)) {
      // ∂w, ∂b partials per 8 rows come out of the row kernel itself (packed: ∂w rows, ∂b rows).
      chunks = Math.ceil(rows / 8);
      pwb = engine.empty([2, chunks, c]);
      engine.dispatch({
        kernel: rowKernel(engine, c, true),
        bindings: [y, z, wb, g, saved.stats, dy, dz, pwb],
        params: { rows, c },
        workgroups: engine.grid(rows, WG),
        op,
      });
    } else {
      engine.dispatch({
        kernel: rowKernel(engine, c, false),
        bindings: [y, z, wb, g, saved.stats, dy, dz],
        params: { rows, c },
        workgroups: engine.grid(rows, WG),
        op,
      });
      const split = chunksOf(rows, ROWS_PER_CHUNK);
      chunks = split.chunks;
      const per = split.per;
      const wg = laneGroupSize(n);
      pwb = engine.empty([2, chunks, c]);
      engine.dispatch({
        kernel: partialsKernel(engine, c, wg),
        bindings: [y, z, g, saved.stats, pwb],
        params: { rows, n, per },
        workgroups: engine.gridRows(Math.ceil(n / wg), chunks),
        op,
      });
    }
    return [dy, dz, ...sumRowsPair(engine, pwb, chunks, c, op)];
  },
});

/**
 * `LayerNorm(y; weight, bias, eps) · SiLU(z)` over the last dimension, fused forward and
 * backward (gradients for all four inputs).
 *
 * @param y `(…, C)`: the merged cross-scan output.
 * @param z `(…, C)`: the gate branch of `in_proj`, same shape as `y`.
 * @param weight `out_norm.weight (C)`.
 * @param bias `out_norm.bias (C)`.
 * @param eps Added to the variance (default 1e-5).
 * @returns `(…, C)`.
 * @throws {ShapeError} when `z` is not shaped like `y` or weight/bias are not `(C)`;
 *   {@linkcode DtypeError} for i32 inputs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "@vmunet/tensor";
 * import { gatedNorm } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const y = engine.tensor([1, 2, 3, 4], [1, 4]);
 * const out = gatedNorm(y, engine.full([1, 4], 20), engine.full([4], 1), engine.zeros([4]));
 * const want = [-1.3416, -0.4472, 0.4472, 1.3416].map((v) => 20 * v); // LayerNorm(y)·SiLU(20)
 * (await out.read()).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-2));
 * engine.destroy();
 * ```
 */
export function gatedNorm(
  y: Tensor,
  z: Tensor,
  weight: Tensor,
  bias: Tensor,
  eps: number = 1e-5,
): Tensor {
  const c = y.shape[y.rank - 1] ?? 0;
  if (
    y.rank < 1 || c === 0 || z.shape.join() !== y.shape.join() ||
    weight.shape.join() !== String(c) || bias.shape.join() !== String(c)
  ) {
    throw new ShapeError(
      "gatedNorm",
      `y and z must have the same shape (…, C > 0) and weight, bias (C), got y ${
        formatShape(y.shape)
      }, z ${formatShape(z.shape)}, weight ${formatShape(weight.shape)}, bias ${
        formatShape(bias.shape)
      }`,
    );
  }
  for (const [name, t] of [["y", y], ["z", z], ["weight", weight], ["bias", bias]] as const) {
    if (t.dtype !== "f32") {
      throw new DtypeError(
        "gatedNorm",
        `${name} must be f32, got ${t.dtype} ${formatShape(t.shape)}`,
      );
    }
  }
  return gatedNormOp([y, z, weight, bias], { eps })[0];
}
