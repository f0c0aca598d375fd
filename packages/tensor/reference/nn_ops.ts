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
  const [B, H, W, C] = shape;
  const y = new Float64Array(B * H * W * C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let v = 0; v < W; v++) {
        for (let c = 0; c < C; c++) {
          let s = bias[c];
          for (let i = 0; i < 3; i++) {
            const hh = h + i - 1;
            if (hh < 0 || hh >= H) continue;
            for (let j = 0; j < 3; j++) {
              const vv = v + j - 1;
              if (vv < 0 || vv >= W) continue;
              s += w[c * 9 + i * 3 + j] * x[((b * H + hh) * W + vv) * C + c];
            }
          }
          y[((b * H + h) * W + v) * C + c] = s;
        }
      }
    }
  }
  return y;
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
  const [B, H, W, C] = shape;
  const dx = new Float64Array(x.length), dw = new Float64Array(C * 9), db = new Float64Array(C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let v = 0; v < W; v++) {
        for (let c = 0; c < C; c++) {
          const g = gy[((b * H + h) * W + v) * C + c];
          db[c] += g;
          for (let i = 0; i < 3; i++) {
            const hh = h + i - 1;
            if (hh < 0 || hh >= H) continue;
            for (let j = 0; j < 3; j++) {
              const vv = v + j - 1;
              if (vv < 0 || vv >= W) continue;
              const xi = ((b * H + hh) * W + vv) * C + c;
              dw[c * 9 + i * 3 + j] += g * x[xi];
              dx[xi] += g * w[c * 9 + i * 3 + j];
            }
          }
        }
      }
    }
  }
  return { dx, dw, db };
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
  const [B, Ci, H, W] = shape;
  const Ho = Math.floor(H / k), Wo = Math.floor(W / k);
  const y = new Float64Array(B * Ho * Wo * cout);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Ho; h++) {
      for (let v = 0; v < Wo; v++) {
        for (let o = 0; o < cout; o++) {
          let s = bias[o];
          for (let c = 0; c < Ci; c++) {
            for (let p = 0; p < k; p++) {
              for (let q = 0; q < k; q++) {
                s += w[((o * Ci + c) * k + p) * k + q] *
                  x[((b * Ci + c) * H + h * k + p) * W + v * k + q];
              }
            }
          }
          y[((b * Ho + h) * Wo + v) * cout + o] = s;
        }
      }
    }
  }
  return y;
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
  const [B, Ci, H, W] = shape;
  const Ho = Math.floor(H / k), Wo = Math.floor(W / k);
  const dx = new Float64Array(x.length), dw = new Float64Array(w.length);
  const db = new Float64Array(cout);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Ho; h++) {
      for (let v = 0; v < Wo; v++) {
        for (let o = 0; o < cout; o++) {
          const g = gy[((b * Ho + h) * Wo + v) * cout + o];
          db[o] += g;
          for (let c = 0; c < Ci; c++) {
            for (let p = 0; p < k; p++) {
              for (let q = 0; q < k; q++) {
                const wi = ((o * Ci + c) * k + p) * k + q;
                const xi = ((b * Ci + c) * H + h * k + p) * W + v * k + q;
                dw[wi] += g * x[xi];
                dx[xi] += g * w[wi];
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw, db };
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
  const [B, H, W, Ci] = shape;
  const y = new Float64Array(B * cout * H * W);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < cout; o++) {
      for (let p = 0; p < H * W; p++) {
        let s = bias[o];
        for (let c = 0; c < Ci; c++) s += w[o * Ci + c] * x[(b * H * W + p) * Ci + c];
        y[(b * cout + o) * H * W + p] = s;
      }
    }
  }
  return y;
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
  const [B, H, W, Ci] = shape;
  const dx = new Float64Array(x.length), dw = new Float64Array(cout * Ci);
  const db = new Float64Array(cout);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < cout; o++) {
      for (let p = 0; p < H * W; p++) {
        const g = gy[(b * cout + o) * H * W + p];
        db[o] += g;
        for (let c = 0; c < Ci; c++) {
          dw[o * Ci + c] += g * x[(b * H * W + p) * Ci + c];
          dx[(b * H * W + p) * Ci + c] += g * w[o * Ci + c];
        }
      }
    }
  }
  return { dx, dw, db };
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
