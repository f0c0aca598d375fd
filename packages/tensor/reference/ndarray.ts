/**
 * Float64 CPU reference implementations of the tensor ops (plain loops, no tricks): the
 * numerical ground truth of the tests.
 *
 * @module
 */

import { sizeOf as size, stridesOf as strides } from "../_row_major.ts";

/** Row-major strides and element count (the shape arithmetic the ops use too). */
export { size, strides };

/** A float64 n-dimensional array (row-major). */
export interface Nd {
  /** Dimensions. */
  shape: number[];
  /** Values, row-major. */
  data: Float64Array;
}

/** Creates an {@linkcode Nd}. */
export function nd(data: ArrayLike<number>, shape: readonly number[]): Nd {
  return { shape: [...shape], data: Float64Array.from(data) };
}

/** Multi-index of linear index `i`. */
function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** NumPy broadcast shape. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, i) => {
    const da = a[a.length - r + i] ?? 1, db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error("no broadcast");
    return da === 1 ? db : da;
  });
}

/** Reads `x` at an index of a broadcast shape. */
function at(x: Nd, idx: readonly number[]): number {
  const off = idx.length - x.shape.length;
  const s = strides(x.shape);
  let o = 0;
  for (let d = 0; d < x.shape.length; d++) o += (x.shape[d] === 1 ? 0 : idx[d + off]) * s[d];
  return x.data[o];
}

/** Element-wise `f(a, b)` with broadcasting. */
export function binary(a: Nd, b: Nd, f: (x: number, y: number) => number): Nd {
  const shape = broadcastShape(a.shape, b.shape);
  const out = new Float64Array(size(shape));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, shape);
    out[i] = f(at(a, idx), at(b, idx));
  }
  return { shape, data: out };
}

/** Element-wise `f(x)`. */
export function unary(x: Nd, f: (v: number) => number): Nd {
  return { shape: [...x.shape], data: x.data.map(f) };
}

/** PyTorch softplus (beta 1, threshold 20). */
export function softplus(v: number): number {
  return v > 20 ? v : Math.log1p(Math.exp(v));
}

/** Logistic sigmoid. */
export function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** Sum over `axes` (keepdim optional). */
export function sum(x: Nd, axes: readonly number[], keepdim = false): Nd {
  const set = new Set(axes.map((a) => (a < 0 ? a + x.shape.length : a)));
  const kshape = x.shape.map((d, i) => (set.has(i) ? 1 : d));
  const out = new Float64Array(size(kshape));
  const ks = strides(kshape);
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape);
    let o = 0;
    for (let d = 0; d < idx.length; d++) if (!set.has(d)) o += idx[d] * ks[d];
    out[o] += x.data[i];
  }
  return { shape: keepdim ? kshape : x.shape.filter((_, i) => !set.has(i)), data: out };
}

/** Generic gather: `y[idx] = x[src(idx)]` over `shape`. */
export function gather(x: Nd, shape: readonly number[], src: (idx: number[]) => number[]): Nd {
  const out = new Float64Array(size(shape));
  const xs = strides(x.shape);
  for (let i = 0; i < out.length; i++) {
    const s = src(unravel(i, shape));
    out[i] = x.data[s.reduce((a, v, d) => a + v * xs[d], 0)];
  }
  return { shape: [...shape], data: out };
}

/** `torch.permute`. */
export function permute(x: Nd, perm: readonly number[]): Nd {
  const shape = perm.map((p) => x.shape[p]);
  return gather(x, shape, (idx) => {
    const s = new Array<number>(perm.length);
    perm.forEach((p, i) => (s[p] = idx[i]));
    return s;
  });
}

/** `torch.flip`. */
export function flip(x: Nd, axes: readonly number[]): Nd {
  const set = new Set(axes.map((a) => (a < 0 ? a + x.shape.length : a)));
  return gather(x, x.shape, (idx) => idx.map((v, d) => (set.has(d) ? x.shape[d] - 1 - v : v)));
}

/** Python slicing with explicit (start, stop, step) per axis, already normalised. */
export function slice(x: Nd, specs: readonly { start: number; step: number; len: number }[]): Nd {
  const shape = specs.map((s) => s.len);
  return gather(x, shape, (idx) => idx.map((v, d) => specs[d].start + v * specs[d].step));
}

/** `torch.cat`. */
export function concat(xs: readonly Nd[], axis: number): Nd {
  const shape = [...xs[0].shape];
  shape[axis] = xs.reduce((a, t) => a + t.shape[axis], 0);
  const out = new Float64Array(size(shape));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, shape);
    let k = 0, v = idx[axis];
    while (v >= xs[k].shape[axis]) v -= xs[k++].shape[axis];
    const j = [...idx];
    j[axis] = v;
    out[i] = xs[k].data[j.reduce((a, q, d) => a + q * strides(xs[k].shape)[d], 0)];
  }
  return { shape, data: out };
}

/** `rearrange('b h w (p1 p2 c) -> b (h p1) (w p2) c')`. */
export function pixelShuffle(x: Nd, p: number): Nd {
  const [b, h, w, pc] = x.shape;
  const c = pc / (p * p);
  return gather(x, [b, h * p, w * p, c], ([bi, hh, ww, ci]) => {
    const p1 = hh % p, p2 = ww % p;
    return [bi, Math.floor(hh / p), Math.floor(ww / p), (p1 * p + p2) * c + ci];
  });
}

/** `torch.Tensor.repeat`. */
export function repeat(x: Nd, reps: readonly number[]): Nd {
  const xshape = [...Array(reps.length - x.shape.length).fill(1), ...x.shape];
  const shape = xshape.map((d, i) => d * reps[i]);
  const y = { shape: xshape, data: x.data };
  return gather(y, shape, (idx) => idx.map((v, d) => v % xshape[d]));
}

/** Broadcast to `shape`. */
export function broadcastTo(x: Nd, shape: readonly number[]): Nd {
  const out = new Float64Array(size(shape));
  for (let i = 0; i < out.length; i++) out[i] = at(x, unravel(i, shape));
  return { shape: [...shape], data: out };
}

/** Batched matmul with optional transposes and broadcast batch dims. */
export function matmul(a: Nd, b: Nd, transA = false, transB = false): Nd {
  const ra = a.shape.length, rb = b.shape.length;
  const [m, k] = transA ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
  const [k2, n] = transB ? [b.shape[rb - 1], b.shape[rb - 2]] : [b.shape[rb - 2], b.shape[rb - 1]];
  if (k !== k2) throw new Error("inner mismatch");
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const nb = size(batch);
  const out = new Float64Array(nb * m * n);
  const ab = {
    shape: a.shape.slice(0, -2),
    data: Float64Array.from({ length: size(a.shape.slice(0, -2)) }, (_, i) => i),
  };
  const bb = {
    shape: b.shape.slice(0, -2),
    data: Float64Array.from({ length: size(b.shape.slice(0, -2)) }, (_, i) => i),
  };
  for (let z = 0; z < nb; z++) {
    const idx = unravel(z, batch);
    const ia = batch.length ? at(ab, idx) : 0, ib = batch.length ? at(bb, idx) : 0;
    const oa = ia * m * k, ob = ib * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const av = transA ? a.data[oa + q * m + i] : a.data[oa + i * k + q];
          const bv = transB ? b.data[ob + j * k + q] : b.data[ob + q * n + j];
          s += av * bv;
        }
        out[z * m * n + i * n + j] = s;
      }
    }
  }
  return { shape: [...batch, m, n], data: out };
}

/** Softmax (or log-softmax) over `axis`. */
export function softmax(x: Nd, axis: number, log = false): Nd {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  const len = x.shape[ax];
  const inner = size(x.shape.slice(ax + 1));
  const outer = size(x.shape.slice(0, ax));
  const out = new Float64Array(x.data.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let mx = -Infinity;
      for (let j = 0; j < len; j++) mx = Math.max(mx, x.data[base + j * inner]);
      let s = 0;
      for (let j = 0; j < len; j++) s += Math.exp(x.data[base + j * inner] - mx);
      for (let j = 0; j < len; j++) {
        const v = x.data[base + j * inner] - mx;
        out[base + j * inner] = log ? v - Math.log(s) : Math.exp(v) / s;
      }
    }
  }
  return { shape: [...x.shape], data: out };
}

/**
 * Gradient of `Σ w ⊙ f(inputs)` with respect to every input by central finite differences
 * in float64 (the reference gradient of every backward test).
 *
 * @param f The reference op.
 * @param inputs Its inputs.
 * @param w Weights of the output (the backward seed).
 * @param h Step (default 1e-6).
 * @returns One gradient array per input.
 */
export function finiteDifferenceGrads(
  f: (xs: Nd[]) => Nd,
  inputs: readonly Nd[],
  w: Float64Array,
  h = 1e-6,
): Float64Array[] {
  const dot = (y: Nd) => y.data.reduce((a, v, i) => a + v * w[i], 0);
  return inputs.map((x, k) => {
    const g = new Float64Array(x.data.length);
    for (let i = 0; i < x.data.length; i++) {
      const orig = x.data[i];
      const plus = inputs.map((
        t,
        j,
      ) => (j === k ? { shape: t.shape, data: Float64Array.from(t.data) } : t));
      plus[k].data[i] = orig + h;
      const fp = dot(f(plus));
      plus[k].data[i] = orig - h;
      const fm = dot(f(plus));
      g[i] = (fp - fm) / (2 * h);
    }
    return g;
  });
}
