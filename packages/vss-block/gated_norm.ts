/**
 * SS2D's output gate `LayerNorm(y) · SiLU(z)` (docs/spec.md §3.3 step 8) as one differentiable
 * op: one forward kernel instead of LayerNorm, SiLU and a product, and a backward of three
 * dispatches (row sums; ∂y, ∂z and partial ∂weight/∂bias; their reduction) instead of
 * the three ops' seven or more. Same formulas as the separate ops (biased variance,
 * `silu(z) = z / (1 + e^{−z})`).
 *
 * @module
 */

import {
  chunksOf,
  clusterSum8,
  defineOp,
  DtypeError,
  type Engine,
  formatShape,
  grid1d,
  laneGroupSize,
  rowLanes,
  ShapeError,
  sumRowsPair,
  type Tensor,
} from "@vmunet/tensor";

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
  return engine.kernel(() => ({
    key,
    bindings: [
      { name: "y", type: `array<${L.T}>` },
      { name: "z", type: `array<${L.T}>` },
      { name: "w", type: `array<${L.T}>` },
      { name: "b", type: `array<${L.T}>` },
      { name: "out", access: "read_write", type: `array<${L.T}>` },
      { name: "stats", access: "read_write" },
    ],
    code: /* wgsl */ `
// One invocation per row: mean, variance, then (ŷ·w + b)·silu(z); saves (mean, rstd).
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = lin(gid, nwg, ${WG}u);
  let rows = pu(0u); let c = pu(1u); let eps = pf(2u);
  if (row >= rows) { return; }
  let n = c / ${L.v}u;
  let base = row * n;
  var s = ${L.T}(0.0);
  for (var j = 0u; j < n; j++) { s += y[base + j]; }
  let mean = ${L.sum("s")} / f32(c);
  var q = ${L.T}(0.0);
  for (var j = 0u; j < n; j++) { let d = y[base + j] - mean; q += d * d; }
  let rstd = 1.0 / sqrt(${L.sum("q")} / f32(c) + eps);
  for (var j = 0u; j < n; j++) {
    let zz = z[base + j];
    out[base + j] = ((y[base + j] - mean) * rstd * w[j] + b[j]) * (zz * (1.0 / (1.0 + exp(-zz))));
  }
  stats[2u * row] = mean;
  stats[2u * row + 1u] = rstd;
}`,
  }), key);
}

function rowKernel(engine: Engine, c: number, partials: boolean) {
  const L = rowLanes(c);
  const key = `ss2d.gated_norm.bwd_yz.${L.v}.${partials ? "sg8" : "plain"}`;
  return engine.kernel(() => ({
    key,
    // Weight and bias come packed in one buffer (w, then b) and the partial ∂w, ∂b go out
    // packed too, so the kernel binds 10 storage buffers (8 without partials), within what
    // browsers' adapters allow per stage.
    bindings: [
      { name: "y", type: `array<${L.T}>` },
      { name: "z", type: `array<${L.T}>` },
      { name: "wb", type: `array<${L.T}>` },
      { name: "g", type: `array<${L.T}>` },
      { name: "stats" },
      { name: "dy", access: "read_write", type: `array<${L.T}>` },
      { name: "dz", access: "read_write", type: `array<${L.T}>` },
      ...(partials ? [{ name: "pwb", access: "read_write" as const, type: `array<${L.T}>` }] : []),
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
  let rows = pu(0u); let c = pu(1u);
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
    ${
      partials
        ? `let dnk = dn * keep; let dnx = dnk * xh;
    ${clusterSum8("dnx", "cw")}
    ${clusterSum8("dnk", "cb")}
    if (valid && lane % 8u == 0u) { pwb[slot + j] = cw; pwb[pu(2u) * n + slot + j] = cb; }`
        : ""
    }
  }
}`,
  }), key);
}

function partialsKernel(engine: Engine, c: number, wg: number) {
  const L = rowLanes(c);
  const key = `ss2d.gated_norm.bwd_wb_part.${L.v}.${wg}`;
  return engine.kernel(() => ({
    key,
    bindings: [
      { name: "y", type: `array<${L.T}>` },
      { name: "z", type: `array<${L.T}>` },
      { name: "g", type: `array<${L.T}>` },
      { name: "stats" },
      { name: "pwb", access: "read_write", type: `array<${L.T}>` },
    ],
    code: /* wgsl */ `
// Workgroup (lane block, row chunk): each lane walks the chunk's rows at one lane group of
// channels (row statistics are uniform loads): partial ∂w = Σ dn·ŷ and ∂b = Σ dn.
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let rows = pu(0u); let n = pu(1u); let per = pu(2u); let chunks = pu(3u);
  let chunk = wid.y + wid.z * 65535u;
  let j = wid.x * ${wg}u + li;
  if (j >= n) { return; }
  let r1 = min(rows, (chunk + 1u) * per);
  var sw = ${L.T}(0.0); var sb = ${L.T}(0.0);
  for (var r = chunk * per; r < r1; r++) {
    let i = r * n + j;
    let zz = z[i];
    let dn = g[i] * (zz * (1.0 / (1.0 + exp(-zz))));
    sw += dn * (y[i] - stats[2u * r]) * stats[2u * r + 1u];
    sb += dn;
  }
  pwb[chunk * n + j] = sw; pwb[(chunks + chunk) * n + j] = sb;
}`,
  }), key);
}

const gatedNormOp = defineOp<{ eps: number }, { stats: Tensor }>({
  name: "gatedNorm",
  forward(engine, [y, z, w, b], { eps }) {
    const c = y.shape[y.rank - 1];
    const rows = y.size / c;
    const out = engine.empty(y.shape);
    const stats = engine.empty([rows, 2]);
    const params = new Uint32Array([rows, c, 0]);
    new Float32Array(params.buffer)[2] = eps;
    engine.dispatch({
      kernel: forwardKernel(engine, c),
      bindings: [y, z, w, b, out, stats],
      params,
      workgroups: grid1d(rows, WG),
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
      // ∂w, ∂b partials per 8 rows come out of the row kernel itself.
      chunks = Math.ceil(rows / 8);
      pwb = engine.empty([2, chunks, c]);
      engine.dispatch({
        kernel: rowKernel(engine, c, true),
        bindings: [y, z, wb, g, saved.stats, dy, dz, pwb],
        params: [rows, c, chunks],
        workgroups: grid1d(rows, WG),
        op,
      });
    } else {
      engine.dispatch({
        kernel: rowKernel(engine, c, false),
        bindings: [y, z, wb, g, saved.stats, dy, dz],
        params: [rows, c],
        workgroups: grid1d(rows, WG),
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
        params: [rows, n, per, chunks],
        workgroups: [Math.ceil(n / wg), Math.min(chunks, 65535), Math.ceil(chunks / 65535)],
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
