/**
 * Reductions: `sum` and `mean` over axes (keepdim option), and `sumTo` (the backward of
 * broadcasting).
 *
 * @module
 */

import { type Engine, grid1d } from "../engine.ts";
import type { Tensor } from "../tensor.ts";
import { formatShape, ShapeError } from "../tensor_errors.ts";
import { MAX_RANK, normAxis, Params, sameShape, stridesOf } from "./_shape.ts";
import { broadcastTo, reshape } from "./layout.ts";
import { mulScalar } from "./elementwise.ts";

const WG = 256;
/** Reductions longer than this per output are split into chunks summed in a second pass. */
const CHUNK_THRESHOLD = 2048;

/**
 * Sums `x` (contiguous) over `axes` into a new tensor of the kept dimensions (in order),
 * multiplying by `scale`. Two passes when few outputs each reduce many elements.
 */
function reduceSum(
  engine: Engine,
  op: string,
  x: Tensor,
  axes: Set<number>,
  scale: number,
): Tensor {
  const strides = stridesOf(x.shape);
  const kShape: number[] = [], kStr: number[] = [], rShape: number[] = [], rStr: number[] = [];
  let prevKind: boolean | null = null;
  for (let d = 0; d < x.rank; d++) {
    if (x.shape[d] === 1) continue;
    const red = axes.has(d);
    const [sh, st] = red ? [rShape, rStr] : [kShape, kStr];
    if (prevKind === red) {
      sh[sh.length - 1] *= x.shape[d];
      st[st.length - 1] = strides[d];
    } else {
      sh.push(x.shape[d]);
      st.push(strides[d]);
    }
    prevKind = red;
  }
  const outShape = x.shape.filter((_, d) => !axes.has(d));
  const nOut = kShape.reduce((a, b) => a * b, 1);
  const rSize = rShape.reduce((a, b) => a * b, 1);
  let nChunks = 1;
  if (rSize > CHUNK_THRESHOLD && nOut < 16384) {
    nChunks = Math.min(Math.ceil(rSize / 256), Math.ceil(16384 / nOut));
  }
  const chunkLen = Math.ceil(rSize / nChunks);
  nChunks = Math.ceil(rSize / chunkLen);
  const out = engine.empty(nChunks > 1 ? [nOut, nChunks] : outShape);
  if (out.size === 0) return out;
  const kernel = engine.kernel(() => ({
    key: "reduce_sum",
    bindings: [{ name: "x" }, { name: "y", access: "read_write" }],
    code: `
// One invocation per (output o, chunk c): sums x over chunk c of the reduced index space.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = lin(gid, nwg, ${WG}u);
  let nOut = pu(0u);
  let nChunks = pu(37u);
  if (t >= nOut * nChunks) { return; }
  let o = t % nOut;
  let c = t / nOut;
  var rem = o; var base = 0u;
  for (var d = i32(pu(1u)) - 1; d >= 0; d--) {
    let sz = pu(2u + u32(d)); base += (rem % sz) * pu(10u + u32(d)); rem = rem / sz;
  }
  let rRank = pu(18u);
  let rSize = pu(35u);
  let len = pu(36u);
  let r0 = c * len;
  let r1 = min(rSize, r0 + len);
  var acc = 0.0;
  if (rRank <= 1u) {
    let st = pu(27u);
    for (var r = r0; r < r1; r++) { acc += x[base + r * st]; }
  } else {
    for (var r = r0; r < r1; r++) {
      var rr = r; var off = base;
      for (var d = i32(rRank) - 1; d >= 0; d--) {
        let sz = pu(19u + u32(d)); off += (rr % sz) * pu(27u + u32(d)); rr = rr / sz;
      }
      acc += x[off];
    }
  }
  y[o * nChunks + c] = acc * pf(38u);
}`,
  }), "reduce_sum");
  const p = new Params()
    .u(nOut, kShape.length).padded(kShape, MAX_RANK).padded(kStr, MAX_RANK, 0)
    .u(rShape.length).padded(rShape, MAX_RANK).padded(rStr, MAX_RANK, 0)
    .u(rSize, chunkLen, nChunks).f(nChunks > 1 ? 1 : scale);
  engine.dispatch({
    kernel,
    bindings: [x, out],
    params: p.view,
    workgroups: grid1d(nOut * nChunks, WG),
    op,
  });
  if (nChunks === 1) return out;
  const second = reduceSum(engine, op, out, new Set([1]), scale);
  out.dispose();
  const result = engine.view(second, outShape);
  second.dispose();
  return result;
}

function normAxes(
  op: string,
  axes: number | readonly number[] | undefined,
  rank: number,
): Set<number> {
  if (axes === undefined) return new Set(Array.from({ length: rank }, (_, i) => i));
  const list = typeof axes === "number" ? [axes] : axes;
  const set = new Set<number>();
  for (const a of list) {
    const n = normAxis(op, a, rank);
    if (set.has(n)) throw new ShapeError(op, `axis ${a} appears twice in [${list.join(", ")}]`);
    set.add(n);
  }
  return set;
}

/** Options of {@linkcode sum} and {@linkcode mean}. */
export interface ReduceOptions {
  /** Keep reduced dimensions with size 1 (default false). */
  keepdim?: boolean;
}

function reduceOp(
  op: string,
  x: Tensor,
  axes: number | readonly number[] | undefined,
  options: ReduceOptions,
  mean: boolean,
): Tensor {
  x.storageFor(op);
  if (x.dtype !== "f32") throw new ShapeError(op, `needs f32, got ${x.dtype}`);
  const set = normAxes(op, axes, x.rank);
  const count = x.shape.reduce((a, d, i) => (set.has(i) ? a * d : a), 1);
  const scale = mean ? 1 / count : 1;
  const engine = x.engine;
  const keptShape = x.shape.map((d, i) => (set.has(i) ? 1 : d));
  const outShape = options.keepdim ? keptShape : x.shape.filter((_, i) => !set.has(i));
  const raw = reduceSum(engine, op, x, set, scale);
  const y = engine.view(raw, outShape);
  raw.dispose();
  engine.record(op, [x], [y], ([g]) => {
    const gk = reshape(g!, keptShape);
    const b = broadcastTo(gk, x.shape);
    return [mean ? mulScalar(b, scale) : b];
  });
  return y;
}

/**
 * Sum over `axes` (all when omitted), like `torch.sum(x, dim, keepdim)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, sum } from "@vmunet/tensor";
 * const e = await Engine.create();
 * const x = e.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
 * assert.deepEqual(Array.from(await sum(x, 1).read()), [6, 15]);
 * e.destroy();
 * ```
 *
 * @param x Input (f32).
 * @param axes Axis or axes (negative counts from the end); all when omitted.
 * @param options `keepdim`.
 * @returns The sums.
 * @throws {ShapeError} for an axis out of range or repeated.
 */
export function sum(
  x: Tensor,
  axes?: number | readonly number[],
  options: ReduceOptions = {},
): Tensor {
  return reduceOp("sum", x, axes, options, false);
}

/**
 * Mean over `axes` (all when omitted), like `torch.mean(x, dim, keepdim)`.
 *
 * @param x Input (f32).
 * @param axes Axis or axes; all when omitted.
 * @param options `keepdim`.
 * @returns The means.
 */
export function mean(
  x: Tensor,
  axes?: number | readonly number[],
  options: ReduceOptions = {},
): Tensor {
  return reduceOp("mean", x, axes, options, true);
}

/**
 * Sums `g` down to `shape` (the backward of broadcasting `shape` to `g.shape`): over leading
 * extra dimensions and where `shape` has 1. Returns `g` itself when the shapes are equal.
 *
 * @param g A gradient of the broadcast shape.
 * @param shape The shape before broadcasting.
 * @returns A tensor of `shape`.
 * @throws {ShapeError} when `shape` does not broadcast to `g.shape`.
 */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const off = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    const d = i < off ? 1 : shape[i - off];
    if (i < off || (d === 1 && g.shape[i] !== 1)) axes.push(i);
    else if (d !== g.shape[i]) {
      throw new ShapeError(
        "sumTo",
        `${formatShape(shape)} does not broadcast to ${formatShape(g.shape)}`,
      );
    }
  }
  return reshape(sum(g, axes, { keepdim: true }), shape);
}
