/**
 * Generated WGSL for the general element-wise and strided kernels.
 *
 * @module
 */

import type { Engine, KernelBinding } from "../engine.ts";
import type { Dtype, Tensor } from "../tensor.ts";
import { coalesce, MAX_RANK } from "./_shape.ts";

/** WGSL helpers available to element-wise expressions (over the alias `T`). */
const MAP_LIBRARY = `
fn sigmoid_(x: T) -> T { return T(1.0) / (T(1.0) + exp(-x)); }
fn log1p_(x: T) -> T { let u = T(1.0) + x; return select(log(u) - ((u - T(1.0)) - x) / u, x, u == T(1.0)); }
fn softplus_(x: T) -> T { return select(log1p_(exp(x)), x, x > T(20.0)); }
`;

/** Params of a strided kernel over one or two operands (see {@linkcode stridedOffsets}). */
const STRIDED1 = {
  n: "u32",
  rank: "u32",
  shape: ["u32", MAX_RANK],
  st0: ["i32", MAX_RANK],
  base: "i32",
} as const;
const STRIDED2 = {
  n: "u32",
  rank: "u32",
  shape: ["u32", MAX_RANK],
  st0: ["i32", MAX_RANK],
  st1: ["i32", MAX_RANK],
} as const;

/**
 * Code that decomposes linear index `i` over the `params.rank` dimensions of
 * `params.shape` and accumulates signed offsets `o0…o{k-1}` from the strides
 * `params.st0…` (k ≤ 2).
 */
function stridedOffsets(k: number): string {
  const decl = Array.from({ length: k }, (_, j) => `var o${j} = 0i;`).join(" ");
  const acc = Array.from({ length: k }, (_, j) => `o${j} += q * params.st${j}[d];`).join(" ");
  return `var rem = i; ${decl}
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let sz = params.shape[d]; let q = i32(rem % sz); rem = rem / sz; ${acc}
  }`;
}

const WG = 256;

/** Params of a {@linkcode mapKernel} with `k` scalars: `n`, then `s0 … s{k-1}` (f32). */
function mapParams(k: number): Record<string, "u32" | "f32"> {
  const decl: Record<string, "u32" | "f32"> = { n: "u32" };
  for (let j = 0; j < k; j++) decl[`s${j}`] = "f32";
  return decl;
}

/**
 * `g · silu'(a)` as a {@linkcode mapKernel} expression over `[a, g]` (`a` the
 * pre-activation, `b` the incoming gradient): shared by `silu` and the fused conv + SiLU.
 */
export const SILU_GRAD_EXPR = "b * sigmoid_(a) * (T(1.0) + a * (T(1.0) - sigmoid_(a)))";

/**
 * Element-wise map over same-shape contiguous inputs: `y[i] = expr(a[i], b[i], …, s0, …)`.
 * Inputs are named `a, b, c, d`; scalars `s0, s1, …` (f32). For f32 data whose size is a
 * multiple of 4 the kernel runs on `vec4` (expressions use `T(…)` for constants in
 * builtins such as `max`/`select`).
 *
 * @returns The output tensor (not recorded on the tape).
 */
export function mapKernel(
  engine: Engine,
  op: string,
  expr: string,
  inputs: readonly Tensor[],
  scalars: readonly number[] = [],
  outDtype: Dtype = "f32",
): Tensor {
  const n = inputs[0].size;
  const out = engine.empty(inputs[0].shape, outDtype);
  if (n === 0) return out;
  const allF32 = outDtype === "f32" && inputs.every((t) => t.dtype === "f32");
  const vec = allF32 && n % 4 === 0;
  const names = ["a", "b", "c", "d"];
  const key = `map${vec ? "4" : ""}:${
    inputs.map((t) => t.dtype).join("")
  }>${outDtype}:${expr}:${scalars.length}`;
  const kernel = engine.kernel(key, () => {
    const elem = (dt: Dtype) => (vec ? "vec4<f32>" : dt === "i32" ? "i32" : "f32");
    const bindings = inputs.map((t, j) => ({
      name: `in_${names[j]}`,
      type: `array<${elem(t.dtype)}>`,
    }));
    const scal = scalars.map((_, j) => `let s${j} = params.s${j};`).join(" ");
    const loads = inputs.map((_, j) => `let ${names[j]} = in_${names[j]}[i];`).join(" ");
    return {
      params: mapParams(scalars.length),
      bindings: [...bindings, {
        name: "y",
        access: "read_write",
        type: `array<${elem(outDtype)}>`,
      }],
      code: `alias T = ${vec ? "vec4<f32>" : "f32"};
${MAP_LIBRARY}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  if (i >= params.n) { return; }
  ${scal} ${loads}
  y[i] = ${expr};
}`,
    };
  });
  const count = vec ? n / 4 : n;
  const params: Record<string, number> = { n: count };
  scalars.forEach((v, j) => params[`s${j}`] = v);
  engine.dispatch({
    kernel,
    bindings: [...inputs, out],
    params,
    workgroups: engine.grid(count, WG),
    op,
  });
  return out;
}

/**
 * Element-wise binary op with NumPy broadcasting: `y[idx] = expr(a[idx_a], b[idx_b])` over
 * `outShape` (f32).
 *
 * @returns The output tensor (not recorded on the tape).
 */
export function broadcastKernel(
  engine: Engine,
  op: string,
  expr: string,
  a: Tensor,
  b: Tensor,
  outShape: readonly number[],
  strideA: readonly number[],
  strideB: readonly number[],
): Tensor {
  const out = engine.empty(outShape, "f32");
  const n = out.size;
  if (n === 0) return out;
  const c = coalesce(outShape, [strideA, strideB]);
  if (c.shape.length <= 2) return broadcast2d(engine, op, expr, a, b, out, c.shape, c.strides);
  const key = `bcast:${expr}`;
  const kernel = engine.kernel(key, () => ({
    params: STRIDED2,
    bindings: [{ name: "in_a" }, { name: "in_b" }, { name: "y", access: "read_write" }],
    code: `alias T = f32;
${MAP_LIBRARY}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  if (i >= params.n) { return; }
  ${stridedOffsets(2)}
  let a = in_a[o0]; let b = in_b[o1];
  y[i] = ${expr};
}`,
  }));
  const [st0, st1] = c.strides;
  engine.dispatch({
    kernel,
    bindings: [a, b, out],
    params: { n, rank: c.shape.length, shape: c.shape, st0, st1 },
    workgroups: engine.grid(n, WG),
    op,
  });
  return out;
}

/**
 * Rows per invocation of the 2-/3-D kernels: enough that there are at most ~4096 workgroups
 * (each costs a fixed overhead on CPU adapters) while keeping ≥ 64 workgroups for
 * parallelism.
 */
function rowsPerInvocation(inner: number, outer: number): number {
  const groups = Math.ceil(inner / 64) * outer;
  return Math.max(1, Math.min(outer, Math.floor(groups / 4096) || 1, Math.ceil(outer / 64)));
}

/**
 * Broadcast over at most two coalesced dimensions `(outer, inner)` (bias adds, row and
 * column scales): a 2-D grid, so no index division per element.
 */
function broadcast2d(
  engine: Engine,
  op: string,
  expr: string,
  a: Tensor,
  b: Tensor,
  out: Tensor,
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): Tensor {
  let [outer, inner] = shape.length === 2 ? shape : [1, shape[0]];
  let [sa0, sa1] = shape.length === 2 ? strides[0] : [0, strides[0][0]];
  let [sb0, sb1] = shape.length === 2 ? strides[1] : [0, strides[1][0]];
  // Rows contiguous in both operands (a bias or a row of scales): vec4 along the row.
  const vec = inner % 4 === 0 && sa1 === 1 && sb1 === 1 && sa0 % 4 === 0 && sb0 % 4 === 0;
  if (vec) [inner, sa0, sb0] = [inner / 4, sa0 / 4, sb0 / 4];
  const ty = vec ? "array<vec4<f32>>" : "array<f32>";
  const key = `bcast2d${vec ? "4" : ""}:${expr}`;
  const kernel = engine.kernel(key, () => ({
    params: {
      inner: "u32",
      outer: "u32",
      sa0: "u32",
      sa1: "u32",
      sb0: "u32",
      sb1: "u32",
      rows: "u32",
    },
    bindings: [
      { name: "in_a", type: ty },
      { name: "in_b", type: ty },
      { name: "y", access: "read_write", type: ty },
    ],
    code: `alias T = ${vec ? "vec4<f32>" : "f32"};
${MAP_LIBRARY}
// Invocation (j, r) handles rows o = r·R … r·R + R − 1 (R = ROWS, fewer workgroups: each
// costs a fixed overhead on CPU adapters): y[o·inner + j] = expr(a[o·sa0 + j·sa1], b[…]).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let inner = params.inner; let outer = params.outer; let rows = params.rows;
  let j = gid.x;
  if (j >= inner) { return; }
  let o0 = (gid.y + gid.z * nwg.y) * rows;
  let o1 = min(outer, o0 + rows);
  for (var o = o0; o < o1; o++) {
    let a = in_a[o * params.sa0 + j * params.sa1];
    let b = in_b[o * params.sb0 + j * params.sb1];
    y[o * inner + j] = ${expr};
  }
}`,
  }));
  const rows = rowsPerInvocation(inner, outer);
  const blocks = Math.ceil(outer / rows);
  engine.dispatch({
    kernel,
    bindings: [a, b, out],
    params: { inner, outer, sa0, sa1, sb0, sb1, rows },
    workgroups: engine.gridRows(Math.ceil(inner / 64), blocks),
    op,
  });
  return out;
}

/**
 * The same strided move in units of 4 elements when the innermost (coalesced) dimension is
 * contiguous on both sides, a multiple of 4 long and every other stride and the base are
 * multiples of 4 (channels-last permutes, pixel shuffles, patchify): a quarter of the
 * invocations, each moving a `vec4`.
 */
function quads(
  shape: readonly number[],
  strides: readonly number[],
  base: number,
): { shape: number[]; strides: number[]; base: number } | null {
  const last = shape.length - 1;
  if (last < 0 || strides[last] !== 1 || shape[last] % 4 !== 0 || base % 4 !== 0) return null;
  if (strides.some((s, d) => d < last && s % 4 !== 0)) return null;
  return {
    shape: shape.map((n, d) => (d === last ? n / 4 : n)),
    strides: strides.map((s, d) => (d === last ? 1 : s / 4)),
    base: base / 4,
  };
}

/**
 * The coalesced shape and strides of a strided move, as vec4 quads when the innermost run
 * allows it (`vec4`, with `base` rebased in quads): the element count `n` and WGSL type `t`
 * to move.
 */
function stridedLayout(
  shape: readonly number[],
  strides: readonly number[],
  base: number,
  size: number,
  dtype: string,
): {
  c: { shape: number[]; strides: number[][] };
  base: number;
  vec4: boolean;
  n: number;
  t: string;
} {
  const c0 = coalesce(shape, [strides]);
  const q = quads(c0.shape, c0.strides[0], base);
  const scalar = dtype === "i32" ? "i32" : "f32";
  return q
    ? {
      c: { shape: q.shape, strides: [q.strides] },
      base: q.base,
      vec4: true,
      n: size / 4,
      t: `vec4<${scalar}>`,
    }
    : { c: c0, base, vec4: false, n: size, t: scalar };
}

/**
 * Strided gather: `y[i] = x[base + Σ idx_d · stride_d]` over `shape` (any dtype). Covers
 * permute, flip, slice, broadcast and copies.
 *
 * @returns The output tensor (not recorded on the tape).
 */
export function gatherKernel(
  engine: Engine,
  op: string,
  x: Tensor,
  shape: readonly number[],
  strides: readonly number[],
  base: number,
): Tensor {
  const out = engine.empty(shape, x.dtype);
  if (out.size > 0) stridedMove(engine, op, "gather", x, out, shape, strides, base);
  return out;
}

/**
 * Strided scatter into an existing tensor: `y[base + Σ idx_d · stride_d] = x[i]` over
 * `x`'s shape (targets must be distinct). Used by slice backward and concat.
 */
export function scatterKernel(
  engine: Engine,
  op: string,
  x: Tensor,
  y: Tensor,
  strides: readonly number[],
  base: number,
): void {
  if (x.size > 0) stridedMove(engine, op, "scatter", x, y, x.shape, strides, base);
}

/**
 * Moves the elements of a strided view between `x` and contiguous `y` (gather) or the
 * reverse (scatter): the iteration space coalesced (in vec4 quads when the innermost run
 * allows), then the 4×4 block transpose (gathers only), the 3-D grid, or the general
 * kernel that decomposes the linear index.
 */
function stridedMove(
  engine: Engine,
  op: string,
  mode: "gather" | "scatter",
  x: Tensor,
  y: Tensor,
  shape: readonly number[],
  strides: readonly number[],
  base0: number,
): void {
  const size = mode === "gather" ? y.size : x.size;
  const { c, vec4, n, t, base } = stridedLayout(shape, strides, base0, size, x.dtype);
  const max = engine.maxWorkgroupsPerDimension;
  if (mode === "gather" && !vec4 && transposes4(c.shape, c.strides[0], base, max)) {
    transpose4({ engine, op, x, y, t, shape: c.shape, strides: c.strides[0], base });
    return;
  }
  if (fits3d(c.shape, max)) {
    strided3d({ engine, op, x, y, t, shape: c.shape, strides: c.strides[0], base }, mode);
    return;
  }
  const kernel = engine.kernel(`${mode}:${t}`, () => ({
    params: STRIDED1,
    bindings: moveBindings(t),
    code: `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  if (i >= params.n) { return; }
  ${stridedOffsets(1)}
  ${mode === "gather" ? "y[i] = x[u32(o0 + params.base)];" : "y[u32(o0 + params.base)] = x[i];"}
}`,
  }));
  engine.dispatch({
    kernel,
    bindings: [x, y],
    params: { n, rank: c.shape.length, shape: c.shape, st0: c.strides[0], base },
    workgroups: engine.grid(n, WG),
    op,
  });
}

/** A strided move after coalescing: what {@linkcode transpose4} and {@linkcode strided3d} run. */
interface CoalescedMove {
  engine: Engine;
  /** Op named in errors. */
  op: string;
  /** Source (strided for a gather, contiguous for a scatter). */
  x: Tensor;
  /** Destination (contiguous for a gather, strided for a scatter). */
  y: Tensor;
  /** WGSL element type. */
  t: string;
  /** The coalesced iteration shape. */
  shape: readonly number[];
  /** The strided side's element strides over `shape`. */
  strides: readonly number[];
  /** The strided side's first element. */
  base: number;
}

/** The bindings of a move kernel: `x` read and `y` written, both arrays of `elem`. */
function moveBindings(elem: string): KernelBinding[] {
  return [
    { name: "x", type: `array<${elem}>` },
    { name: "y", access: "read_write", type: `array<${elem}>` },
  ];
}

/**
 * Whether a coalesced gather `(d0, d1, d2)` swaps its last two axes in 4×4 blocks: the input
 * is contiguous along d1 (stride 1), d1 and d2 are multiples of 4, and the other strides
 * and the base are multiples of 4, and the grid fits `max` workgroups per dimension.
 */
function transposes4(
  shape: readonly number[],
  strides: readonly number[],
  base: number,
  max: number,
): boolean {
  if (shape.length < 2 || shape.length > 3) return false;
  const [d0, d1, d2] = shape.length === 3 ? shape : [1, ...shape];
  const [s0, s1, s2] = strides.length === 3 ? strides : [0, ...strides];
  return s1 === 1 && d1 % 4 === 0 && d2 % 4 === 0 && s2 % 4 === 0 && s0 % 4 === 0 &&
    s0 >= 0 && s2 >= 0 &&
    base % 4 === 0 && d0 <= max && d1 / 4 <= max;
}

/**
 * Gather that transposes 4×4 blocks: each invocation loads four `vec4` runs of the input
 * (contiguous along the output's middle axis) and stores four `vec4` runs of the output —
 * a quarter of the memory operations of one element per invocation (the dt-projection
 * weight transposes of SS2D land here).
 */
function transpose4({ engine, op, x, y, t, shape, strides, base }: CoalescedMove): void {
  const [d0, d1, d2] = shape.length === 3 ? shape : [1, ...shape];
  const [s0, , s2] = strides.length === 3 ? strides : [0, ...strides];
  const key = `transpose4:${t}`;
  const kernel = engine.kernel(key, () => ({
    params: { d1: "u32", d2: "u32", base: "u32", s0: "u32", s2: "u32" },
    bindings: moveBindings(`vec4<${t}>`),
    code: `
// Invocation (j2, j1, i0) moves the block i1 in [4·j1, 4·j1 + 4), i2 in [4·j2, 4·j2 + 4):
// input run k (at i2 = 4·j2 + k) holds the block's column k.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let d1 = params.d1; let d2 = params.d2; let base = params.base;
  let s0 = params.s0; let s2 = params.s2;
  let q2 = d2 / 4u;
  if (gid.x >= q2) { return; }
  let i1 = gid.y * 4u; let i2 = gid.x * 4u;
  let src = (base + gid.z * s0 + i2 * s2 + i1) / 4u; let step = s2 / 4u;
  let v0 = x[src]; let v1 = x[src + step]; let v2 = x[src + 2u * step]; let v3 = x[src + 3u * step];
  let dst = ((gid.z * d1 + i1) * d2 + i2) / 4u;
  y[dst] = vec4(v0.x, v1.x, v2.x, v3.x);
  y[dst + q2] = vec4(v0.y, v1.y, v2.y, v3.y);
  y[dst + 2u * q2] = vec4(v0.z, v1.z, v2.z, v3.z);
  y[dst + 3u * q2] = vec4(v0.w, v1.w, v2.w, v3.w);
}`,
  }));
  engine.dispatch({
    kernel,
    bindings: [x, y],
    params: { d1, d2, base, s0, s2 },
    workgroups: [Math.ceil(d2 / 4 / 64), d1 / 4, d0],
    op,
  });
}

/** Whether a coalesced shape fits the 3-D grid of {@linkcode strided3d}. */
function fits3d(shape: readonly number[], max: number): boolean {
  if (shape.length > 3) return false;
  const [d0, d1] = shape.length === 3 ? shape : shape.length === 2 ? [1, shape[0]] : [1, 1];
  return d0 <= max && d1 <= max;
}

/**
 * Strided gather or scatter over at most three coalesced dimensions on a 3-D grid (no
 * index division per element): permutes, flips, slices and concats of channels-last
 * tensors mostly land here.
 */
function strided3d(
  { engine, op, x, y, t, shape, strides, base }: CoalescedMove,
  mode: "gather" | "scatter",
): void {
  const pad = 3 - shape.length;
  const [d0, d1, d2] = [...Array(pad).fill(1), ...shape];
  const [s0, s1, s2] = [...Array(pad).fill(0), ...strides];
  const key = `${mode}3d:${t}`;
  const kernel = engine.kernel(key, () => ({
    params: { d1: "u32", d2: "u32", base: "i32", s0: "i32", s1: "i32", s2: "i32", rows: "u32" },
    bindings: moveBindings(t),
    code: `
// Invocation (i2, i1, i0) moves element (i0, i1, i2) of the iteration space; the strided
// side's offset is base + i0·s0 + i1·s1 + i2·s2, the contiguous side's is linear.
// Each invocation handles \`rows\` consecutive i1 (fewer workgroups on CPU adapters).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let d1 = params.d1; let d2 = params.d2; let rows = params.rows;
  if (gid.x >= d2) { return; }
  let i10 = gid.y * rows;
  let i11 = min(d1, i10 + rows);
  for (var i1 = i10; i1 < i11; i1++) {
    let lin_ = (gid.z * d1 + i1) * d2 + gid.x;
    let off = u32(
      params.base + i32(gid.z) * params.s0 + i32(i1) * params.s1 + i32(gid.x) * params.s2,
    );
    ${mode === "gather" ? "y[lin_] = x[off];" : "y[off] = x[lin_];"}
  }
}`,
  }));
  const rows = rowsPerInvocation(d2, d0 * d1);
  engine.dispatch({
    kernel,
    bindings: [x, y],
    params: { d1, d2, base, s0, s1, s2, rows },
    workgroups: [Math.ceil(d2 / 64), Math.ceil(d1 / rows), d0],
    op,
  });
}
