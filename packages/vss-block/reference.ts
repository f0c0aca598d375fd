/**
 * Float64 CPU references of the blocks, written literally from the official PyTorch code
 * (docs/spec.md §2–3): the scan builds the four direction sequences with explicit flips and
 * transposes, projects each with its own weights, runs `selective_scan_ref` per row and
 * merges as `o0 + rev(o2) + T(o1) + T(rev(o3))`. Slow and simple; for tests and for
 * localising mismatches against the golden fixtures.
 *
 * Tensors are flat row-major `Float64Array`s with an explicit shape; parameters are looked
 * up by their key suffix (`ln_1.weight`, `self_attention.A_logs`, …).
 *
 * @module
 */

/** Looks up a parameter by key suffix. */
export type ParamLookup = (name: string) => ArrayLike<number>;

/** A float64 array with its shape. */
export interface Array64 {
  /** Row-major values. */
  data: Float64Array;
  /** Shape. */
  shape: number[];
}

function sub(params: ParamLookup, prefix: string): ParamLookup {
  return (name) => params(`${prefix}.${name}`);
}

/**
 * LayerNorm over the last dim (biased variance).
 *
 * @param x Input.
 * @param w Weight (C).
 * @param b Bias (C).
 * @param eps Epsilon (default 1e-5).
 * @returns Normalised values, same shape.
 */
export function layerNormRef(
  x: Array64,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  eps = 1e-5,
): Array64 {
  const c = x.shape[x.shape.length - 1];
  const rows = x.data.length / c;
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < c; i++) mean += x.data[r * c + i];
    mean /= c;
    let v = 0;
    for (let i = 0; i < c; i++) v += (x.data[r * c + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / c + eps);
    for (let i = 0; i < c; i++) out[r * c + i] = (x.data[r * c + i] - mean) * inv * w[i] + b[i];
  }
  return { data: out, shape: [...x.shape] };
}

/**
 * `x · Wᵀ (+ bias)` over the last dim.
 *
 * @param x `(…, in)`.
 * @param w `(out, in)` row-major.
 * @param outDim out.
 * @param bias Optional `(out)`.
 * @returns `(…, out)`.
 */
export function linearRef(
  x: Array64,
  w: ArrayLike<number>,
  outDim: number,
  bias?: ArrayLike<number>,
): Array64 {
  const inDim = x.shape[x.shape.length - 1];
  const rows = x.data.length / inDim;
  const out = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let s = bias ? bias[o] : 0;
      for (let i = 0; i < inDim; i++) s += x.data[r * inDim + i] * w[o * inDim + i];
      out[r * outDim + o] = s;
    }
  }
  return { data: out, shape: [...x.shape.slice(0, -1), outDim] };
}

const siluRef = (v: number) => v / (1 + Math.exp(-v));
const softplusRef = (v: number) => (v > 20 ? v : Math.log1p(Math.exp(v)));

/**
 * SS2D (docs/spec.md §3) on `(B, H, W, C)` — the input already normalised by `ln_1`.
 *
 * @param x `(B, H, W, C)`.
 * @param p Parameters of `self_attention` by suffix (`in_proj.weight`, …).
 * @returns `(B, H, W, C)`.
 */
export function ss2dRef(x: Array64, p: ParamLookup): Array64 {
  const [B, H, W, C] = x.shape;
  const L = H * W;
  const Di = 2 * C;
  const aLogs = p("A_logs");
  const N = aLogs.length / (4 * Di);
  const R = p("dt_projs_weight").length / (4 * Di);
  const P = R + 2 * N;
  const xz = linearRef(x, p("in_proj.weight"), 2 * Di);
  // Depthwise 3×3 conv (padding 1) + SiLU, on (B, Di, H, W) as the official code.
  const cw = p("conv2d.weight"), cb = p("conv2d.bias");
  const xc = new Float64Array(B * Di * L); // (B, Di, L) row-major l = h·W + w
  for (let b = 0; b < B; b++) {
    for (let d = 0; d < Di; d++) {
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          let s = cb[d];
          for (let i = 0; i < 3; i++) {
            for (let j = 0; j < 3; j++) {
              const hh = h + i - 1, ww = w + j - 1;
              if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
              s += cw[d * 9 + i * 3 + j] * xz.data[((b * H + hh) * W + ww) * 2 * Di + d];
            }
          }
          xc[(b * Di + d) * L + h * W + w] = siluRef(s);
        }
      }
    }
  }
  // xs (B, 4, Di, L): row-major, column-major, and both reversed.
  const xs = new Float64Array(B * 4 * Di * L);
  for (let b = 0; b < B; b++) {
    for (let d = 0; d < Di; d++) {
      const src = (b * Di + d) * L;
      for (let l = 0; l < L; l++) {
        const wh = (l % H) * W + Math.floor(l / H); // column-major l = w·H + h
        const v0 = xc[src + l], v1 = xc[src + wh];
        xs[((b * 4 + 0) * Di + d) * L + l] = v0;
        xs[((b * 4 + 1) * Di + d) * L + l] = v1;
        xs[((b * 4 + 2) * Di + d) * L + (L - 1 - l)] = v0;
        xs[((b * 4 + 3) * Di + d) * L + (L - 1 - l)] = v1;
      }
    }
  }
  const xw = p("x_proj_weight"), dtw = p("dt_projs_weight"), dtb = p("dt_projs_bias");
  const Ds = p("Ds");
  const ys = new Float64Array(B * 4 * Di * L);
  const xdbl = new Float64Array(P * L);
  const dts = new Float64Array(Di * L);
  const h = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < 4; k++) {
      const xk = (b * 4 + k) * Di * L;
      for (let c = 0; c < P; c++) {
        for (let l = 0; l < L; l++) {
          let s = 0;
          for (let d = 0; d < Di; d++) s += xw[(k * P + c) * Di + d] * xs[xk + d * L + l];
          xdbl[c * L + l] = s;
        }
      }
      for (let d = 0; d < Di; d++) {
        for (let l = 0; l < L; l++) {
          let s = 0;
          for (let r = 0; r < R; r++) s += dtw[(k * Di + d) * R + r] * xdbl[r * L + l];
          dts[d * L + l] = s;
        }
      }
      for (let d = 0; d < Di; d++) {
        const ch = k * Di + d;
        h.fill(0);
        for (let l = 0; l < L; l++) {
          const delta = softplusRef(dts[d * L + l] + dtb[ch]);
          const u = xs[xk + d * L + l];
          let y = Ds[ch] * u;
          for (let n = 0; n < N; n++) {
            const A = -Math.exp(aLogs[ch * N + n]);
            h[n] = Math.exp(delta * A) * h[n] + delta * xdbl[(R + n) * L + l] * u;
            y += xdbl[(R + N + n) * L + l] * h[n];
          }
          ys[xk + d * L + l] = y;
        }
      }
    }
  }
  // Merge back to row-major, then (B, H, W, Di).
  const y = new Float64Array(B * L * Di);
  for (let b = 0; b < B; b++) {
    for (let d = 0; d < Di; d++) {
      for (let l = 0; l < L; l++) {
        const hh = Math.floor(l / W), ww = l % W;
        const t = ww * H + hh; // column-major index of natural position l
        const at = (k: number, i: number) => ys[((b * 4 + k) * Di + d) * L + i];
        y[(b * L + l) * Di + d] = at(0, l) + at(2, L - 1 - l) + at(1, t) + at(3, L - 1 - t);
      }
    }
  }
  const normed = layerNormRef(
    { data: y, shape: [B, H, W, Di] },
    p("out_norm.weight"),
    p(
      "out_norm.bias",
    ),
  );
  for (let i = 0; i < B * L; i++) {
    for (let d = 0; d < Di; d++) {
      normed.data[i * Di + d] *= siluRef(xz.data[i * 2 * Di + Di + d]);
    }
  }
  return linearRef(normed, p("out_proj.weight"), C);
}

/**
 * VSS block `x + SS2D(LN(x))` (drop path 0).
 *
 * @param x `(B, H, W, C)`.
 * @param p Parameters by suffix (`ln_1.weight`, `self_attention.*`).
 * @returns `(B, H, W, C)`.
 */
export function vssBlockRef(x: Array64, p: ParamLookup): Array64 {
  const t = layerNormRef(x, p("ln_1.weight"), p("ln_1.bias"));
  const o = ss2dRef(t, sub(p, "self_attention"));
  return { data: x.data.map((v, i) => v + o.data[i]), shape: [...x.shape] };
}

/**
 * PatchEmbed2D: k×k stride-k conv from NCHW, LayerNorm, channels-last out.
 *
 * @param x `(B, Cin, H, W)`.
 * @param p `proj.weight`, `proj.bias`, `norm.weight`, `norm.bias`.
 * @returns `(B, H/k, W/k, embed)`.
 */
export function patchEmbedRef(x: Array64, p: ParamLookup): Array64 {
  const [B, Ci, H, W] = x.shape;
  const bias = p("proj.bias"), w = p("proj.weight");
  const E = bias.length;
  const k = Math.round(Math.sqrt(w.length / (E * Ci)));
  const Ho = Math.floor(H / k), Wo = Math.floor(W / k);
  const out = new Float64Array(B * Ho * Wo * E);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Ho; i++) {
      for (let j = 0; j < Wo; j++) {
        for (let o = 0; o < E; o++) {
          let s = bias[o];
          for (let c = 0; c < Ci; c++) {
            for (let a = 0; a < k; a++) {
              for (let q = 0; q < k; q++) {
                s += w[((o * Ci + c) * k + a) * k + q] *
                  x.data[((b * Ci + c) * H + i * k + a) * W + j * k + q];
              }
            }
          }
          out[((b * Ho + i) * Wo + j) * E + o] = s;
        }
      }
    }
  }
  return layerNormRef({ data: out, shape: [B, Ho, Wo, E] }, p("norm.weight"), p("norm.bias"));
}

/**
 * PatchMerging2D: `cat([x0, x1, x2, x3], -1)` with the official slices, LN(4C), reduction.
 *
 * @param x `(B, H, W, C)`.
 * @param p `reduction.weight`, `norm.weight`, `norm.bias`.
 * @returns `(B, H/2, W/2, 2C)`.
 */
export function patchMergingRef(x: Array64, p: ParamLookup): Array64 {
  const [B, H, W, C] = x.shape;
  const H2 = Math.floor(H / 2), W2 = Math.floor(W / 2);
  const cat = new Float64Array(B * H2 * W2 * 4 * C);
  const offsets = [[0, 0], [1, 0], [0, 1], [1, 1]]; // x0, x1, x2, x3 (row, col)
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < H2; i++) {
      for (let j = 0; j < W2; j++) {
        offsets.forEach(([dr, dc], q) => {
          for (let c = 0; c < C; c++) {
            cat[((b * H2 + i) * W2 + j) * 4 * C + q * C + c] =
              x.data[((b * H + 2 * i + dr) * W + 2 * j + dc) * C + c];
          }
        });
      }
    }
  }
  const n = layerNormRef(
    { data: cat, shape: [B, H2, W2, 4 * C] },
    p("norm.weight"),
    p(
      "norm.bias",
    ),
  );
  return linearRef(n, p("reduction.weight"), 2 * C);
}

/**
 * PatchExpand2D / Final_PatchExpand2D: Linear → `b h w (p1 p2 c) -> b (h p1) (w p2) c` → LN.
 *
 * @param x `(B, H, W, in)`.
 * @param p `expand.weight`, `norm.weight`, `norm.bias`.
 * @param scale 2 (PatchExpand2D) or 4 (final).
 * @returns `(B, scale·H, scale·W, out)`.
 */
export function patchExpandRef(x: Array64, p: ParamLookup, scale: number): Array64 {
  const [B, H, W] = x.shape;
  const out = p("norm.weight").length;
  const lin = linearRef(x, p("expand.weight"), scale * scale * out);
  const Ho = H * scale, Wo = W * scale;
  const sh = new Float64Array(B * Ho * Wo * out);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        for (let p1 = 0; p1 < scale; p1++) {
          for (let p2 = 0; p2 < scale; p2++) {
            for (let c = 0; c < out; c++) {
              sh[((b * Ho + h * scale + p1) * Wo + w * scale + p2) * out + c] =
                lin.data[((b * H + h) * W + w) * scale * scale * out + (p1 * scale + p2) * out + c];
            }
          }
        }
      }
    }
  }
  return layerNormRef({ data: sh, shape: [B, Ho, Wo, out] }, p("norm.weight"), p("norm.bias"));
}

/**
 * The final 1×1 conv from channels-last to NCHW.
 *
 * @param x `(B, H, W, Cin)`.
 * @param w `(Cout, Cin, 1, 1)`.
 * @param bias `(Cout)`.
 * @returns `(B, Cout, H, W)`.
 */
export function conv1x1Ref(x: Array64, w: ArrayLike<number>, bias: ArrayLike<number>): Array64 {
  const [B, H, W, Ci] = x.shape;
  const Co = bias.length;
  const out = new Float64Array(B * Co * H * W);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < Co; o++) {
      for (let i = 0; i < H * W; i++) {
        let s = bias[o];
        for (let c = 0; c < Ci; c++) s += w[o * Ci + c] * x.data[(b * H * W + i) * Ci + c];
        out[(b * Co + o) * H * W + i] = s;
      }
    }
  }
  return { data: out, shape: [B, Co, H, W] };
}
