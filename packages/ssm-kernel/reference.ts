/**
 * Float64 CPU reference of the selective scan (forward and backward), exactly as
 * `selective_scan_ref` of mamba_ssm computes it with `delta_softplus = true` and grouped
 * `B`/`C` (docs/spec.md §4.1, §4.3). It is the numerical baseline of the GPU kernels and of the
 * benchmark.
 *
 * @module
 */

/** Inputs of the generic-layout scan; all arrays are row-major, shapes in the comments. */
export interface ScanReferenceInputs {
  /** Batch size B. */
  batch: number;
  /** Number of B/C groups G. */
  groups: number;
  /** Channels per group D (the scan has G·D channels). */
  channelsPerGroup: number;
  /** Sequence length L. */
  length: number;
  /** State size N. */
  dState: number;
  /** `u (B, G·D, L)`. */
  u: ArrayLike<number>;
  /** `delta (B, G·D, L)`, before the bias and the softplus. */
  delta: ArrayLike<number>;
  /** `A (G·D, N)`. */
  A: ArrayLike<number>;
  /** `B (B, G, N, L)`. */
  B: ArrayLike<number>;
  /** `C (B, G, N, L)`. */
  C: ArrayLike<number>;
  /** `D (G·D)`. */
  D: ArrayLike<number>;
  /** `delta_bias (G·D)`. */
  deltaBias: ArrayLike<number>;
}

/** Gradients of `sum(out · dout)` with respect to every input. */
export interface ScanGradients {
  /** `du (B, G·D, L)`. */
  du: Float64Array;
  /** `ddelta (B, G·D, L)`. */
  ddelta: Float64Array;
  /** `dA (G·D, N)`. */
  dA: Float64Array;
  /** `dB (B, G, N, L)`. */
  dB: Float64Array;
  /** `dC (B, G, N, L)`. */
  dC: Float64Array;
  /** `dD (G·D)`. */
  dD: Float64Array;
  /** `d_delta_bias (G·D)`. */
  dDeltaBias: Float64Array;
}

/** softplus as the CUDA kernel computes it: x itself above 20, else log1p(exp(x)). */
export function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * Walks row `(b, c)` of the scan forward: `delta[l]` = softplus(Δ + bias) and
 * `hs[(l+1)·N + n]` = the state after position l (`hs[0..N)` stays 0).
 */
function scanRow(
  x: ScanReferenceInputs,
  b: number,
  c: number,
  delta: Float64Array,
  hs: Float64Array,
): void {
  const { groups: G, channelsPerGroup: Dg, length: L, dState: N } = x;
  const row = (b * G * Dg + c) * L;
  const bc = (b * G + Math.floor(c / Dg)) * N * L;
  for (let l = 0; l < L; l++) {
    const dl = softplus(x.delta[row + l] + x.deltaBias[c]);
    delta[l] = dl;
    const ul = x.u[row + l];
    for (let n = 0; n < N; n++) {
      hs[(l + 1) * N + n] = Math.exp(dl * x.A[c * N + n]) * hs[l * N + n] +
        dl * x.B[bc + n * L + l] * ul;
    }
  }
}

/**
 * Forward scan in float64: `out (B, G·D, L)`.
 *
 * @param x The inputs.
 * @returns `out`, row-major `(B, G·D, L)`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectiveScanReference } from "@vmunet/ssm-kernel";
 * const out = selectiveScanReference({
 *   batch: 1, groups: 1, channelsPerGroup: 1, length: 2, dState: 1,
 *   u: [1, 1], delta: [0, 0], A: [-1], B: [1, 1], C: [1, 1], D: [0], deltaBias: [0],
 * });
 * // Δ = ln 2, ā = 1/2: y = h = [ln 2, 1.5·ln 2]
 * assert.ok(Math.abs(out[0] - Math.LN2) < 1e-12 && Math.abs(out[1] - 1.5 * Math.LN2) < 1e-12);
 * ```
 */
export function selectiveScanReference(x: ScanReferenceInputs): Float64Array {
  const { batch, groups: G, channelsPerGroup: Dg, length: L, dState: N } = x;
  const CH = G * Dg;
  const out = new Float64Array(batch * CH * L);
  const hs = new Float64Array((L + 1) * N);
  const delta = new Float64Array(L);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < CH; c++) {
      const row = (b * CH + c) * L;
      const bc = (b * G + Math.floor(c / Dg)) * N * L;
      scanRow(x, b, c, delta, hs);
      for (let l = 0; l < L; l++) {
        let y = x.D[c] * x.u[row + l];
        for (let n = 0; n < N; n++) y += x.C[bc + n * L + l] * hs[(l + 1) * N + n];
        out[row + l] = y;
      }
    }
  }
  return out;
}

/**
 * Backward scan in float64: the gradients of `sum(out · dout)` (docs/spec.md §4.3).
 *
 * @param x The inputs of the forward.
 * @param dout `dout (B, G·D, L)`, the gradient arriving at `out`.
 * @returns Every input's gradient.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectiveScanBackwardReference } from "@vmunet/ssm-kernel";
 * const g = selectiveScanBackwardReference({
 *   batch: 1, groups: 1, channelsPerGroup: 1, length: 1, dState: 1,
 *   u: [2], delta: [0], A: [-1], B: [1], C: [1], D: [0.5], deltaBias: [0],
 * }, [1]);
 * assert.equal(g.dD[0], 2); // Σ dout·u
 * ```
 */
export function selectiveScanBackwardReference(
  x: ScanReferenceInputs,
  dout: ArrayLike<number>,
): ScanGradients {
  const { batch, groups: G, channelsPerGroup: Dg, length: L, dState: N } = x;
  const CH = G * Dg;
  const r: ScanGradients = {
    du: new Float64Array(batch * CH * L),
    ddelta: new Float64Array(batch * CH * L),
    dA: new Float64Array(CH * N),
    dB: new Float64Array(batch * G * N * L),
    dC: new Float64Array(batch * G * N * L),
    dD: new Float64Array(CH),
    dDeltaBias: new Float64Array(CH),
  };
  const hs = new Float64Array((L + 1) * N); // hs[(l+1)·N + n] = h[l, n], hs[0..N) = 0
  const delta = new Float64Array(L);
  const dh = new Float64Array(N);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < CH; c++) {
      const row = (b * CH + c) * L;
      const bc = (b * G + Math.floor(c / Dg)) * N * L;
      scanRow(x, b, c, delta, hs);
      dh.fill(0);
      for (let l = L - 1; l >= 0; l--) {
        const gl = dout[row + l];
        const dl = delta[l];
        const ul = x.u[row + l];
        let du = x.D[c] * gl;
        let dDelta = 0;
        for (let n = 0; n < N; n++) {
          const a = x.A[c * N + n];
          const Bn = x.B[bc + n * L + l];
          const abar = Math.exp(dl * a);
          // dh[l] = g·C[l] + ā[l+1]·dh[l+1]; here dh holds ā[l+1]·dh[l+1] on entry.
          const d = gl * x.C[bc + n * L + l] + dh[n];
          const ahPrev = abar * hs[l * N + n];
          du += d * Bn * dl;
          dDelta += d * (Bn * ul + a * ahPrev);
          r.dA[c * N + n] += d * dl * ahPrev;
          r.dB[bc + n * L + l] += d * dl * ul;
          r.dC[bc + n * L + l] += gl * hs[(l + 1) * N + n];
          dh[n] = d * abar;
        }
        const z = x.delta[row + l] + x.deltaBias[c];
        const dz = z > 20 ? dDelta : dDelta * sigmoid(z);
        r.du[row + l] = du;
        r.ddelta[row + l] = dz;
        r.dD[c] += gl * ul;
        r.dDeltaBias[c] += dz;
      }
    }
  }
  return r;
}

/** Inputs of the 2D cross-scan in the channels-last layout of SS2D (see `CrossScan2d`). */
export interface CrossScanReferenceInputs {
  /** Batch size B. */
  batch: number;
  /** Feature-map height H. */
  height: number;
  /** Feature-map width W. */
  width: number;
  /** Inner channels Di per direction. */
  channels: number;
  /** State size N. */
  dState: number;
  /** `u (B, H, W, Di)`. */
  u: ArrayLike<number>;
  /** `delta (B, H, W, 4, Di)`. */
  delta: ArrayLike<number>;
  /** `B (B, H, W, 4, N)` (densely packed). */
  B: ArrayLike<number>;
  /** `C (B, H, W, 4, N)` (densely packed). */
  C: ArrayLike<number>;
  /** `A (4·Di, N)`. */
  A: ArrayLike<number>;
  /** `D (4·Di)`. */
  D: ArrayLike<number>;
  /** `delta_bias (4·Di)`. */
  deltaBias: ArrayLike<number>;
}

/** Gradients of the cross-scan reference, in the layouts of its inputs. */
export interface CrossScanGradients {
  /** `du (B, H, W, Di)`. */
  du: Float64Array;
  /** `ddelta (B, H, W, 4, Di)`. */
  ddelta: Float64Array;
  /** `dB (B, H, W, 4, N)`. */
  dB: Float64Array;
  /** `dC (B, H, W, 4, N)`. */
  dC: Float64Array;
  /** `dA (4·Di, N)`. */
  dA: Float64Array;
  /** `dD (4·Di)`. */
  dD: Float64Array;
  /** `d_delta_bias (4·Di)`. */
  dDeltaBias: Float64Array;
}

/** Natural (row-major) position of scan position `t` in direction `k` (docs/spec.md §3.3 step 3). */
export function crossScanPosition(k: number, t: number, height: number, width: number): number {
  const L = height * width;
  const s = k >= 2 ? L - 1 - t : t;
  return k % 2 === 0 ? s : (s % height) * width + Math.floor(s / height);
}

/**
 * Calls `f(b, k, t, p)` for every batch `b`, direction `k`, scan position `t` and the natural
 * position `p` that direction `k` visits at `t` ({@linkcode crossScanPosition}).
 */
function eachCrossPosition(
  batch: number,
  H: number,
  W: number,
  f: (b: number, k: number, t: number, p: number) => void,
): void {
  for (let b = 0; b < batch; b++) {
    for (let k = 0; k < 4; k++) {
      for (let t = 0; t < H * W; t++) f(b, k, t, crossScanPosition(k, t, H, W));
    }
  }
}

function toGeneric(x: CrossScanReferenceInputs): ScanReferenceInputs {
  const { batch, height: H, width: W, channels: Di, dState: N } = x;
  const L = H * W;
  const u = new Float64Array(batch * 4 * Di * L);
  const delta = new Float64Array(batch * 4 * Di * L);
  const B = new Float64Array(batch * 4 * N * L);
  const C = new Float64Array(batch * 4 * N * L);
  // Materialise xs (B,4,Di,L) with the flips and transposes, as the official code does.
  eachCrossPosition(batch, H, W, (b, k, t, p) => {
    for (let d = 0; d < Di; d++) {
      u[((b * 4 + k) * Di + d) * L + t] = x.u[(b * L + p) * Di + d];
      delta[((b * 4 + k) * Di + d) * L + t] = x.delta[((b * L + p) * 4 + k) * Di + d];
    }
    for (let n = 0; n < N; n++) {
      B[((b * 4 + k) * N + n) * L + t] = x.B[((b * L + p) * 4 + k) * N + n];
      C[((b * 4 + k) * N + n) * L + t] = x.C[((b * L + p) * 4 + k) * N + n];
    }
  });
  return {
    batch,
    groups: 4,
    channelsPerGroup: Di,
    length: L,
    dState: N,
    u,
    delta,
    A: x.A,
    B,
    C,
    D: x.D,
    deltaBias: x.deltaBias,
  };
}

/**
 * SS2D's four-direction scan and merge in float64, computed the official way: build
 * `xs (B,4,Di,L)` by flips and transposes, scan, then `y = o0 + rev(o2) + T(o1) + T(rev(o3))`.
 *
 * @param x The inputs in the channels-last layout.
 * @returns `y (B, H, W, Di)`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crossScan2dReference } from "@vmunet/ssm-kernel";
 * const y = crossScan2dReference({
 *   batch: 1, height: 1, width: 1, channels: 1, dState: 1,
 *   u: [1], delta: [0, 0, 0, 0], B: [0, 0, 0, 0], C: [0, 0, 0, 0],
 *   A: [-1, -1, -1, -1], D: [1, 1, 1, 1], deltaBias: [0, 0, 0, 0],
 * });
 * assert.equal(y[0], 4); // four directions, each D·u
 * ```
 */
export function crossScan2dReference(x: CrossScanReferenceInputs): Float64Array {
  const { batch, height: H, width: W, channels: Di } = x;
  const L = H * W;
  const o = selectiveScanReference(toGeneric(x));
  const y = new Float64Array(batch * L * Di);
  eachCrossPosition(batch, H, W, (b, k, t, p) => {
    for (let d = 0; d < Di; d++) y[(b * L + p) * Di + d] += o[((b * 4 + k) * Di + d) * L + t];
  });
  return y;
}

/**
 * Gradients of `sum(y · dy)` for {@linkcode crossScan2dReference}, via the generic reference
 * on materialised copies.
 *
 * @param x The inputs of the forward.
 * @param dy `dy (B, H, W, Di)`.
 * @returns Every input's gradient in its input's layout.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crossScan2dBackwardReference } from "@vmunet/ssm-kernel";
 * const g = crossScan2dBackwardReference({
 *   batch: 1, height: 1, width: 1, channels: 1, dState: 1,
 *   u: [1], delta: [0, 0, 0, 0], B: [0, 0, 0, 0], C: [0, 0, 0, 0],
 *   A: [-1, -1, -1, -1], D: [1, 1, 1, 1], deltaBias: [0, 0, 0, 0],
 * }, [1]);
 * assert.equal(g.du[0], 4); // Σ_k D_k
 * ```
 */
export function crossScan2dBackwardReference(
  x: CrossScanReferenceInputs,
  dy: ArrayLike<number>,
): CrossScanGradients {
  const { batch, height: H, width: W, channels: Di, dState: N } = x;
  const L = H * W;
  const dout = new Float64Array(batch * 4 * Di * L);
  eachCrossPosition(batch, H, W, (b, k, t, p) => {
    for (let d = 0; d < Di; d++) {
      dout[((b * 4 + k) * Di + d) * L + t] = dy[(b * L + p) * Di + d];
    }
  });
  const g = selectiveScanBackwardReference(toGeneric(x), dout);
  const r: CrossScanGradients = {
    du: new Float64Array(batch * L * Di),
    ddelta: new Float64Array(batch * L * 4 * Di),
    dB: new Float64Array(batch * L * 4 * N),
    dC: new Float64Array(batch * L * 4 * N),
    dA: g.dA,
    dD: g.dD,
    dDeltaBias: g.dDeltaBias,
  };
  eachCrossPosition(batch, H, W, (b, k, t, p) => {
    for (let d = 0; d < Di; d++) {
      const gi = ((b * 4 + k) * Di + d) * L + t;
      r.du[(b * L + p) * Di + d] += g.du[gi];
      r.ddelta[((b * L + p) * 4 + k) * Di + d] = g.ddelta[gi];
    }
    for (let n = 0; n < N; n++) {
      r.dB[((b * L + p) * 4 + k) * N + n] = g.dB[((b * 4 + k) * N + n) * L + t];
      r.dC[((b * L + p) * 4 + k) * N + n] = g.dC[((b * 4 + k) * N + n) * L + t];
    }
  });
  return r;
}
