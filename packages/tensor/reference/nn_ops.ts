/**
 * Float64 CPU references of the nn ops (LayerNorm, depthwise 3×3 conv, patchify conv,
 * 1×1 conv, DropPath): forward and analytic backward, plain loops, used by the tests to
 * check the GPU kernels and checked themselves by finite differences.
 *
 * @module
 */

/** Forward and saved statistics of {@linkcode layerNormRef}. */
export interface LayerNormRefResult {
  /** Output, same shape as x. */
  y: Float64Array;
  /** Mean of each row. */
  mean: Float64Array;
  /** 1/√(var + eps) of each row (biased variance). */
  rstd: Float64Array;
}

/**
 * LayerNorm over the last dim: `y = (x − mean)·rstd·w + b`.
 *
 * @param x `rows × c` values.
 * @param c Normalised size.
 * @param w Weight (c).
 * @param b Bias (c).
 * @param eps Added to the variance.
 * @returns Output and row statistics.
 */
export function layerNormRef(
  x: ArrayLike<number>,
  c: number,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  eps: number,
): LayerNormRefResult {
  const rows = x.length / c;
  const y = new Float64Array(x.length),
    mean = new Float64Array(rows),
    rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += x[r * c + j];
    const m = s / c;
    let v = 0;
    for (let j = 0; j < c; j++) v += (x[r * c + j] - m) ** 2;
    const rs = 1 / Math.sqrt(v / c + eps);
    mean[r] = m;
    rstd[r] = rs;
    for (let j = 0; j < c; j++) y[r * c + j] = (x[r * c + j] - m) * rs * w[j] + b[j];
  }
  return { y, mean, rstd };
}

/** Gradients of LayerNorm. */
export interface LayerNormRefGrads {
  /** ∂L/∂x. */
  dx: Float64Array;
  /** ∂L/∂weight. */
  dw: Float64Array;
  /** ∂L/∂bias. */
  db: Float64Array;
}

/**
 * Backward of {@linkcode layerNormRef}.
 *
 * @param x Input.
 * @param c Normalised size.
 * @param w Weight.
 * @param eps Epsilon.
 * @param gy ∂L/∂y.
 * @returns The gradients.
 */
export function layerNormBackwardRef(
  x: ArrayLike<number>,
  c: number,
  w: ArrayLike<number>,
  eps: number,
  gy: ArrayLike<number>,
): LayerNormRefGrads {
  const rows = x.length / c;
  const zeros = new Float64Array(c);
  const { mean, rstd } = layerNormRef(x, c, w, zeros, eps);
  const dx = new Float64Array(x.length), dw = new Float64Array(c), db = new Float64Array(c);
  for (let r = 0; r < rows; r++) {
    let sg = 0, sgx = 0;
    for (let j = 0; j < c; j++) {
      const xh = (x[r * c + j] - mean[r]) * rstd[r];
      const g = gy[r * c + j] * w[j];
      sg += g;
      sgx += g * xh;
      dw[j] += gy[r * c + j] * xh;
      db[j] += gy[r * c + j];
    }
    for (let j = 0; j < c; j++) {
      const xh = (x[r * c + j] - mean[r]) * rstd[r];
      dx[r * c + j] = rstd[r] * (gy[r * c + j] * w[j] - sg / c - xh * sgx / c);
    }
  }
  return { dx, dw, db };
}

/**
 * The index relation of a convolution: output `yi` reads input `xi` through weight `wi`
 * for every visited triple; output channel `channelOf(yi)` adds its bias.
 */
interface ConvIndexing {
  /** Output elements. */
  ySize: number;
  /** Output channels (bias length). */
  cout: number;
  /** The output channel (bias index) of output element `yi`. */
  channelOf(yi: number): number;
  /** Visits every (output, input, weight) triple: outputs in row-major order, taps in order. */
  taps(visit: (yi: number, xi: number, wi: number) => void): void;
}

/** `y[yi] = bias[channelOf(yi)] + Σ_taps w[wi]·x[xi]`. */
function convForwardRef(
  ix: ConvIndexing,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(ix.ySize);
  for (let yi = 0; yi < y.length; yi++) y[yi] = bias[ix.channelOf(yi)];
  ix.taps((yi, xi, wi) => {
    y[yi] += w[wi] * x[xi];
  });
  return y;
}

/** The gradients of {@linkcode convForwardRef}: each tap adds gy·x to ∂w and gy·w to ∂x. */
function convBackwardRef(
  ix: ConvIndexing,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  gy: ArrayLike<number>,
): ConvRefGrads {
  const dx = new Float64Array(x.length), dw = new Float64Array(w.length);
  const db = new Float64Array(ix.cout);
  for (let yi = 0; yi < ix.ySize; yi++) db[ix.channelOf(yi)] += gy[yi];
  ix.taps((yi, xi, wi) => {
    dw[wi] += gy[yi] * x[xi];
    dx[xi] += gy[yi] * w[wi];
  });
  return { dx, dw, db };
}

/** Gradients of a convolution. */
export interface ConvRefGrads {
  /** ∂L/∂x. */
  dx: Float64Array;
  /** ∂L/∂weight. */
  dw: Float64Array;
  /** ∂L/∂bias. */
  db: Float64Array;
}

/** Visits the elements of a channels-last `(B, H, W, C)` map in row-major order. */
function forEachChannelsLast(
  [B, H, W, C]: readonly number[],
  visit: (i: number, b: number, h: number, w: number, c: number) => void,
): void {
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        for (let c = 0; c < C; c++) visit(((b * H + h) * W + w) * C + c, b, h, w, c);
      }
    }
  }
}

/** Depthwise 3×3, padding 1, channels-last `[B, H, W, C]`, weight `(C, 1, 3, 3)`. */
function depthwiseIndexing(shape: readonly number[]): ConvIndexing {
  const [B, H, W, C] = shape;
  return {
    ySize: B * H * W * C,
    cout: C,
    channelOf: (yi) => yi % C,
    taps(visit) {
      forEachChannelsLast([B, H, W, C], (yi, b, h, v, c) => {
        for (let i = 0; i < 3; i++) {
          const hh = h + i - 1;
          if (hh < 0 || hh >= H) continue;
          for (let j = 0; j < 3; j++) {
            const vv = v + j - 1;
            if (vv < 0 || vv >= W) continue;
            visit(yi, ((b * H + hh) * W + vv) * C + c, c * 9 + i * 3 + j);
          }
        }
      });
    },
  };
}

/**
 * Depthwise 3×3 conv, padding 1, with bias, on channels-last input: `x (B,H,W,C)`,
 * weight `(C,1,3,3)` (PyTorch layout), bias `(C)` → `(B,H,W,C)` (cross-correlation).
 *
 * @param x Input.
 * @param shape `[B, H, W, C]`.
 * @param w Weight.
 * @param bias Bias.
 * @returns Output.
 */
export function depthwiseConv3x3Ref(
  x: ArrayLike<number>,
  shape: readonly number[],
  w: ArrayLike<number>,
  bias: ArrayLike<number>,
): Float64Array {
  return convForwardRef(depthwiseIndexing(shape), x, w, bias);
}

/**
 * Backward of {@linkcode depthwiseConv3x3Ref}.
 *
 * @param x Input.
 * @param shape `[B, H, W, C]`.
 * @param w Weight.
 * @param gy ∂L/∂y.
 * @returns The gradients.
 */
export function depthwiseConv3x3BackwardRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  w: ArrayLike<number>,
  gy: ArrayLike<number>,
): ConvRefGrads {
  return convBackwardRef(depthwiseIndexing(shape), x, w, gy);
}

/** Patchify (kernel = stride = k), NCHW `[B, Cin, H, W]` in, channels-last out. */
function patchifyIndexing(shape: readonly number[], cout: number, k: number): ConvIndexing {
  const [B, Ci, H, W] = shape;
  const Ho = Math.floor(H / k), Wo = Math.floor(W / k);
  return {
    ySize: B * Ho * Wo * cout,
    cout,
    channelOf: (yi) => yi % cout,
    taps(visit) {
      forEachChannelsLast([B, Ho, Wo, cout], (yi, b, h, v, o) => {
        for (let c = 0; c < Ci; c++) {
          for (let p = 0; p < k; p++) {
            for (let q = 0; q < k; q++) {
              const xi = ((b * Ci + c) * H + h * k + p) * W + v * k + q;
              visit(yi, xi, ((o * Ci + c) * k + p) * k + q);
            }
          }
        }
      });
    },
  };
}

/**
 * Patchify conv (kernel = stride = k, no padding) from NCHW to channels-last:
 * `x (B,Cin,H,W)`, weight `(Cout,Cin,k,k)`, bias `(Cout)` → `(B,⌊H/k⌋,⌊W/k⌋,Cout)`.
 *
 * @param x Input.
 * @param shape `[B, Cin, H, W]`.
 * @param w Weight.
 * @param bias Bias.
 * @param cout Output channels.
 * @param k Kernel size and stride.
 * @returns Output.
 */
export function patchifyConvRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  w: ArrayLike<number>,
  bias: ArrayLike<number>,
  cout: number,
  k: number,
): Float64Array {
  return convForwardRef(patchifyIndexing(shape, cout, k), x, w, bias);
}

/**
 * Backward of {@linkcode patchifyConvRef}.
 *
 * @param x Input.
 * @param shape `[B, Cin, H, W]`.
 * @param w Weight.
 * @param cout Output channels.
 * @param k Kernel size and stride.
 * @param gy ∂L/∂y `(B,⌊H/k⌋,⌊W/k⌋,Cout)`.
 * @returns The gradients.
 */
export function patchifyConvBackwardRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  w: ArrayLike<number>,
  cout: number,
  k: number,
  gy: ArrayLike<number>,
): ConvRefGrads {
  return convBackwardRef(patchifyIndexing(shape, cout, k), x, w, gy);
}

/** 1×1, channels-last `[B, H, W, Cin]` in, NCHW out. */
function conv1x1Indexing(shape: readonly number[], cout: number): ConvIndexing {
  const [B, H, W, Ci] = shape;
  const P = H * W;
  return {
    ySize: B * cout * P,
    cout,
    channelOf: (yi) => Math.floor(yi / P) % cout,
    taps(visit) {
      for (let b = 0; b < B; b++) {
        for (let o = 0; o < cout; o++) {
          for (let p = 0; p < P; p++) {
            const yi = (b * cout + o) * P + p;
            for (let c = 0; c < Ci; c++) visit(yi, (b * P + p) * Ci + c, o * Ci + c);
          }
        }
      }
    },
  };
}

/**
 * 1×1 conv from channels-last to NCHW: `x (B,H,W,Cin)`, weight `(Cout,Cin,1,1)`,
 * bias `(Cout)` → `(B,Cout,H,W)`.
 *
 * @param x Input.
 * @param shape `[B, H, W, Cin]`.
 * @param w Weight.
 * @param bias Bias.
 * @param cout Output channels.
 * @returns Output.
 */
export function conv1x1Ref(
  x: ArrayLike<number>,
  shape: readonly number[],
  w: ArrayLike<number>,
  bias: ArrayLike<number>,
  cout: number,
): Float64Array {
  return convForwardRef(conv1x1Indexing(shape, cout), x, w, bias);
}

/**
 * Backward of {@linkcode conv1x1Ref}.
 *
 * @param x Input.
 * @param shape `[B, H, W, Cin]`.
 * @param w Weight.
 * @param cout Output channels.
 * @param gy ∂L/∂y `(B,Cout,H,W)`.
 * @returns The gradients.
 */
export function conv1x1BackwardRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  w: ArrayLike<number>,
  cout: number,
  gy: ArrayLike<number>,
): ConvRefGrads {
  return convBackwardRef(conv1x1Indexing(shape, cout), x, w, gy);
}

/**
 * DropPath: sample `b` of `x` (first dim) is kept, scaled by `1/keep`, when
 * `uniforms[b] < keep` (compared in float32 as the kernel does), else zeroed: a
 * Bernoulli(keep) mask as timm's. The same mask applies to the gradient.
 *
 * @param x Input, first dim = batch.
 * @param batch Batch size.
 * @param keep 1 − p.
 * @param uniforms One uniform in [0, 1) per sample.
 * @returns Output.
 */
export function dropPathRef(
  x: ArrayLike<number>,
  batch: number,
  keep: number,
  uniforms: ArrayLike<number>,
): Float64Array {
  const per = x.length / batch;
  const y = new Float64Array(x.length);
  for (let b = 0; b < batch; b++) {
    const scale = uniforms[b] < Math.fround(keep) ? 1 / keep : 0;
    for (let i = 0; i < per; i++) y[b * per + i] = x[b * per + i] * scale;
  }
  return y;
}
