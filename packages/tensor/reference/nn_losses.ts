/**
 * Float64 CPU references of VM-UNet's losses (docs/spec.md §7), each returning the loss and its
 * gradient with respect to the prediction (probabilities or logits), with PyTorch's
 * semantics (BCE log clamp at −100, BCE backward's 1e-12 floor).
 *
 * @module
 */

/** PyTorch's BCE backward floor: the float32 constant 1e-12 (= 9.99999996e-13). */
export const BCE_EPS: number = Math.fround(1e-12);

/** A loss value and its gradient. */
export interface LossRef {
  /** The loss. */
  loss: number;
  /** ∂loss/∂prediction, same layout as the prediction. */
  grad: Float64Array;
}

/**
 * `nn.BCELoss` (mean) on probabilities: `−mean(t·max(ln p, −100) + (1−t)·max(ln(1−p), −100))`;
 * backward as PyTorch: `(p − t) / max(p·(1−p), f32(1e-12)) / n`.
 *
 * @param p Probabilities.
 * @param t Targets in [0, 1].
 * @returns Loss and gradient.
 */
export function bceRef(p: ArrayLike<number>, t: ArrayLike<number>): LossRef {
  const n = p.length;
  let s = 0;
  const grad = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const lp = Math.max(Math.log(p[i]), -100), lq = Math.max(Math.log(1 - p[i]), -100);
    s -= t[i] * lp + (1 - t[i]) * lq;
    grad[i] = (p[i] - t[i]) / Math.max(p[i] * (1 - p[i]), BCE_EPS) / n;
  }
  return { loss: s / n, grad };
}

/**
 * The official `DiceLoss`: per sample `d = (2Σpt + 1)/(Σp + Σt + 1)`, loss = 1 − mean(d).
 *
 * @param p Probabilities, first dim = batch.
 * @param t Targets.
 * @param batch Batch size.
 * @returns Loss and gradient.
 */
export function diceRef(p: ArrayLike<number>, t: ArrayLike<number>, batch: number): LossRef {
  const per = p.length / batch;
  const grad = new Float64Array(p.length);
  let sum = 0;
  for (let b = 0; b < batch; b++) {
    let I = 0, P = 0, T = 0;
    for (let i = b * per; i < (b + 1) * per; i++) {
      I += p[i] * t[i];
      P += p[i];
      T += t[i];
    }
    const den = P + T + 1, num = 2 * I + 1;
    sum += num / den;
    for (let i = b * per; i < (b + 1) * per; i++) {
      grad[i] = -(2 * t[i] * den - num) / (den * den) / batch;
    }
  }
  return { loss: 1 - sum / batch, grad };
}

/**
 * `BceDiceLoss(wb, wd)` = wd·Dice + wb·BCE.
 *
 * @param p Probabilities.
 * @param t Targets.
 * @param batch Batch size.
 * @param wb BCE weight.
 * @param wd Dice weight.
 * @returns Loss and gradient.
 */
export function bceDiceRef(
  p: ArrayLike<number>,
  t: ArrayLike<number>,
  batch: number,
  wb: number,
  wd: number,
): LossRef {
  const a = bceRef(p, t), d = diceRef(p, t, batch);
  const grad = new Float64Array(p.length);
  for (let i = 0; i < grad.length; i++) grad[i] = wb * a.grad[i] + wd * d.grad[i];
  return { loss: wb * a.loss + wd * d.loss, grad };
}

/** Softmax over the class dim of NCHW logits `(B, nc, P)` (P = H·W). */
function softmaxNchw(z: ArrayLike<number>, batch: number, nc: number): Float64Array {
  const P = z.length / (batch * nc);
  const s = new Float64Array(z.length);
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < P; p++) {
      let m = -Infinity;
      for (let k = 0; k < nc; k++) m = Math.max(m, z[(b * nc + k) * P + p]);
      let e = 0;
      for (let k = 0; k < nc; k++) e += Math.exp(z[(b * nc + k) * P + p] - m);
      for (let k = 0; k < nc; k++) {
        s[(b * nc + k) * P + p] = Math.exp(z[(b * nc + k) * P + p] - m) / e;
      }
    }
  }
  return s;
}

/**
 * `nn.CrossEntropyLoss` (mean over pixels) on NCHW logits `(B, nc, H, W)` with integer
 * labels `(B, H, W)`.
 *
 * @param z Logits.
 * @param labels Class indices in [0, nc).
 * @param batch Batch size.
 * @param nc Number of classes.
 * @returns Loss and gradient.
 */
export function crossEntropyRef(
  z: ArrayLike<number>,
  labels: ArrayLike<number>,
  batch: number,
  nc: number,
): LossRef {
  const P = z.length / (batch * nc), n = batch * P;
  const s = softmaxNchw(z, batch, nc);
  const grad = new Float64Array(z.length);
  let loss = 0;
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < P; p++) {
      const y = labels[b * P + p];
      loss -= Math.log(s[(b * nc + y) * P + p]);
      for (let k = 0; k < nc; k++) {
        const i = (b * nc + k) * P + p;
        grad[i] = (s[i] - (k === y ? 1 : 0)) / n;
      }
    }
  }
  return { loss: loss / n, grad };
}

/**
 * The official multi-class `nDiceLoss(nc)` with softmax: per class over the whole batch
 * `dice_k = (2Σs·t + 1e-5)/(Σs² + Σt² + 1e-5)` with one-hot t of every class (background
 * included), loss = mean_k(1 − dice_k).
 *
 * @param z Logits `(B, nc, H, W)`.
 * @param labels Class indices `(B, H, W)`.
 * @param batch Batch size.
 * @param nc Number of classes.
 * @returns Loss and gradient with respect to the logits.
 */
export function nDiceRef(
  z: ArrayLike<number>,
  labels: ArrayLike<number>,
  batch: number,
  nc: number,
): LossRef {
  const P = z.length / (batch * nc), eps = 1e-5;
  const s = softmaxNchw(z, batch, nc);
  const I = new Float64Array(nc), Z = new Float64Array(nc), Y = new Float64Array(nc);
  for (let b = 0; b < batch; b++) {
    for (let k = 0; k < nc; k++) {
      for (let p = 0; p < P; p++) {
        const v = s[(b * nc + k) * P + p], t = labels[b * P + p] === k ? 1 : 0;
        I[k] += v * t;
        Z[k] += v * v;
        Y[k] += t;
      }
    }
  }
  let loss = 0;
  for (let k = 0; k < nc; k++) loss += 1 - (2 * I[k] + eps) / (Z[k] + Y[k] + eps);
  // ∂loss/∂s, then the softmax Jacobian.
  const grad = new Float64Array(z.length);
  const gs = new Float64Array(nc);
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < P; p++) {
      let dot = 0;
      for (let k = 0; k < nc; k++) {
        const v = s[(b * nc + k) * P + p], t = labels[b * P + p] === k ? 1 : 0;
        const den = Z[k] + Y[k] + eps, num = 2 * I[k] + eps;
        gs[k] = -(2 * t * den - num * 2 * v) / (den * den) / nc;
        dot += gs[k] * v;
      }
      for (let k = 0; k < nc; k++) {
        const i = (b * nc + k) * P + p;
        grad[i] = s[i] * (gs[k] - dot);
      }
    }
  }
  return { loss: loss / nc, grad };
}

/**
 * `CeDiceLoss(nc, [wce, wdice])` = wce·CE + wdice·nDice (both on the same logits).
 *
 * @param z Logits `(B, nc, H, W)`.
 * @param labels Class indices `(B, H, W)`.
 * @param batch Batch size.
 * @param nc Number of classes.
 * @param wce Cross-entropy weight.
 * @param wdice Dice weight.
 * @returns Loss and gradient.
 */
export function ceDiceRef(
  z: ArrayLike<number>,
  labels: ArrayLike<number>,
  batch: number,
  nc: number,
  wce: number,
  wdice: number,
): LossRef {
  const a = crossEntropyRef(z, labels, batch, nc), d = nDiceRef(z, labels, batch, nc);
  const grad = new Float64Array(z.length);
  for (let i = 0; i < grad.length; i++) grad[i] = wce * a.grad[i] + wdice * d.grad[i];
  return { loss: wce * a.loss + wdice * d.loss, grad };
}
