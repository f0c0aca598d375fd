/**
 * The summation kernel behind every reduction (`sum`, `mean`, and `sumTo`, the backward of
 * broadcasting), with no tape: backward closures (which run with recording off) call
 * {@linkcode sumToShape} here instead of the recorded ops, so the op modules do not import
 * each other in a circle.
 *
 * @module
 */

import type { Engine } from "../engine.ts";
import type { Tensor } from "../tensor.ts";
import { formatShape, ShapeError } from "../tensor_errors.ts";
import { MAX_RANK, sameShape, stridesOf } from "./_shape.ts";
import { sizeOf } from "../_row_major.ts";

const WG = 256;
/** Reductions longer than this per output are split into chunks summed in a second pass. */
const CHUNK_THRESHOLD = 2048;

/**
 * Sums `x` (contiguous) over `axes` into a new tensor of the kept dimensions (in order),
 * multiplying by `scale`. Two passes when few outputs each reduce many elements.
 */
export function reduceSum(
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
  const nOut = sizeOf(kShape);
  const rSize = sizeOf(rShape);
  let nChunks = 1;
  if (rSize > CHUNK_THRESHOLD && nOut < 16384) {
    nChunks = Math.min(Math.ceil(rSize / 256), Math.ceil(16384 / nOut));
  }
  const chunkLen = Math.ceil(rSize / nChunks);
  nChunks = Math.ceil(rSize / chunkLen);
  const out = engine.empty(nChunks > 1 ? [nOut, nChunks] : outShape);
  if (out.size === 0) return out;
  const kernel = engine.kernel("reduce_sum", () => ({
    params: {
      nOut: "u32",
      kRank: "u32",
      kShape: ["u32", MAX_RANK],
      kStr: ["u32", MAX_RANK],
      rRank: "u32",
      rShape: ["u32", MAX_RANK],
      rStr: ["u32", MAX_RANK],
      rSize: "u32",
      len: "u32",
      nChunks: "u32",
      scale: "f32",
    },
    bindings: [{ name: "x" }, { name: "y", access: "read_write" }],
    code: `
// One invocation per (output o, chunk c): sums x over chunk c of the reduced index space.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = lin(gid, nwg, ${WG}u);
  let nOut = params.nOut;
  let nChunks = params.nChunks;
  if (t >= nOut * nChunks) { return; }
  let o = t % nOut;
  let c = t / nOut;
  var rem = o; var base = 0u;
  for (var d = i32(params.kRank) - 1; d >= 0; d--) {
    let sz = params.kShape[d]; base += (rem % sz) * params.kStr[d]; rem = rem / sz;
  }
  let rRank = params.rRank;
  let rSize = params.rSize;
  let len = params.len;
  let r0 = c * len;
  let r1 = min(rSize, r0 + len);
  var acc = 0.0;
  if (rRank <= 1u) {
    let st = params.rStr[0];
    for (var r = r0; r < r1; r++) { acc += x[base + r * st]; }
  } else {
    for (var r = r0; r < r1; r++) {
      var rr = r; var off = base;
      for (var d = i32(rRank) - 1; d >= 0; d--) {
        let sz = params.rShape[d]; off += (rr % sz) * params.rStr[d]; rr = rr / sz;
      }
      acc += x[off];
    }
  }
  y[o * nChunks + c] = acc * params.scale;
}`,
  }));
  engine.dispatch({
    kernel,
    bindings: [x, out],
    params: {
      nOut,
      kRank: kShape.length,
      kShape,
      kStr,
      rRank: rShape.length,
      rShape,
      rStr,
      rSize,
      len: chunkLen,
      nChunks,
      scale: nChunks > 1 ? 1 : scale,
    },
    workgroups: engine.grid(nOut * nChunks, WG),
    op,
  });
  if (nChunks === 1) return out;
  const second = reduceSum(engine, op, out, new Set([1]), scale);
  out.dispose();
  const result = engine.view(second, outShape);
  second.dispose();
  return result;
}

/**
 * The axes `g` is summed over to undo broadcasting `shape` to `g.shape`: leading extra
 * dimensions and those where `shape` has 1.
 *
 * @throws {ShapeError} when `shape` does not broadcast to `g.shape`.
 */
export function broadcastAxes(g: Tensor, shape: readonly number[]): number[] {
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
  return axes;
}

/**
 * `sumTo` without the tape, for backward closures: `g` itself when the shapes are equal,
 * else the sum over {@linkcode broadcastAxes} viewed as `shape`.
 */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const raw = reduceSum(g.engine, "sumTo", g, new Set(broadcastAxes(g, shape)), 1);
  const y = g.engine.view(raw, shape);
  raw.dispose();
  return y;
}
