/**
 * Inference on images of any size: bilinear resize to the model's input size, forward,
 * resize the probabilities back, threshold (one class) or argmax (several classes). GPU
 * kernels for the resize and the decisions; batches of any size, optionally in chunks.
 *
 * @module
 */

import { concat, type Engine, ShapeError, slice, softmax, type Tensor } from "@vmunet/tensor";
import { formatShape } from "@vmunet/tensor/kernels";
import type { VMUNet } from "./model.ts";

const WG = 256;

/**
 * Bilinear resize of NCHW images like `torch.nn.functional.interpolate(x, size,
 * mode="bilinear", align_corners=False)` (no antialiasing): source coordinate
 * `(dst + 0.5)·in/out − 0.5`, clamped at 0, neighbours clamped at the border. Not recorded
 * on the tape.
 *
 * @param x `(B, C, H, W)` f32.
 * @param height Output height.
 * @param width Output width.
 * @returns `(B, C, height, width)` (`x` itself when the size is unchanged).
 * @throws {ShapeError} for a non-NCHW input or a non-positive size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "@vmunet/tensor";
 * import { resizeBilinear } from "@vmunet/vmunet";
 * const engine = await Engine.create();
 * const y = resizeBilinear(engine.tensor([1, 2, 3, 4], [1, 1, 2, 2]), 4, 4);
 * assert.deepEqual(Array.from((await y.read()).subarray(0, 4)), [1, 1.25, 1.75, 2]); // first row, as PyTorch
 * engine.destroy();
 * ```
 */
export function resizeBilinear(x: Tensor, height: number, width: number): Tensor {
  const op = "resizeBilinear";
  if (x.rank !== 4 || x.dtype !== "f32") {
    throw new ShapeError(op, `input must be f32 NCHW (B, C, H, W), got ${formatShape(x.shape)}`);
  }
  if (!(Number.isInteger(height) && height > 0 && Number.isInteger(width) && width > 0)) {
    throw new ShapeError(op, `output size must be positive integers, got ${height}×${width}`);
  }
  const [b, c, h, w] = x.shape;
  if (h === height && w === width) return x;
  const engine = x.engine;
  const y = engine.empty([b, c, height, width]);
  if (y.size === 0) return y;
  const kernel = engine.kernel("vmunet.resize_bilinear", () => ({
    params: { n: "u32", H: "u32", W: "u32", OH: "u32", OW: "u32", scaleY: "f32", scaleX: "f32" },
    bindings: [{ name: "X" }, { name: "Y", access: "read_write" }],
    code: /* wgsl */ `
// One invocation per output element (plane, oy, ox): PyTorch's align_corners=False rule.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let n = params.n; let H = params.H; let W = params.W; let OH = params.OH; let OW = params.OW;
  if (i >= n) { return; }
  let ox = i % OW; let oy = (i / OW) % OH; let plane = i / (OW * OH);
  let sy = max((f32(oy) + 0.5) * params.scaleY - 0.5, 0.0);
  let sx = max((f32(ox) + 0.5) * params.scaleX - 0.5, 0.0);
  let y0 = min(u32(floor(sy)), H - 1u); let x0 = min(u32(floor(sx)), W - 1u);
  let y1 = min(y0 + 1u, H - 1u); let x1 = min(x0 + 1u, W - 1u);
  let ly = sy - f32(y0); let lx = sx - f32(x0);
  let base = plane * H * W;
  let top = (1.0 - lx) * X[base + y0 * W + x0] + lx * X[base + y0 * W + x1];
  let bottom = (1.0 - lx) * X[base + y1 * W + x0] + lx * X[base + y1 * W + x1];
  Y[i] = (1.0 - ly) * top + ly * bottom;
}`,
  }));
  const params = {
    n: y.size,
    H: h,
    W: w,
    OH: height,
    OW: width,
    scaleY: h / height,
    scaleX: w / width,
  };
  engine.dispatch({ kernel, bindings: [x, y], params, workgroups: engine.grid(y.size, WG), op });
  return y;
}

/**
 * Per-pixel decision on NCHW scores: one channel → `score ≥ threshold` (1/0), several →
 * the index of the largest (the first on ties, as `torch.argmax`).
 *
 * @param scores `(B, C, H, W)` f32.
 * @param threshold Used when C = 1.
 * @returns `(B, H, W)` i32 labels.
 */
export function decideLabels(scores: Tensor, threshold: number): Tensor {
  const op = "decideLabels";
  if (scores.rank !== 4 || scores.dtype !== "f32") {
    throw new ShapeError(op, `scores must be f32 (B, C, H, W), got ${formatShape(scores.shape)}`);
  }
  const [b, c, h, w] = scores.shape;
  const engine = scores.engine;
  const y = engine.empty([b, h, w], "i32");
  if (y.size === 0) return y;
  const kernel = engine.kernel("vmunet.decide_labels", () => ({
    params: { n: "u32", C: "u32", HW: "u32", threshold: "f32" },
    bindings: [{ name: "S" }, { name: "Y", access: "read_write", type: "array<i32>" }],
    code: /* wgsl */ `
// One invocation per pixel: threshold for one channel, first argmax otherwise.
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  let n = params.n; let C = params.C; let HW = params.HW;
  if (i >= n) { return; }
  let base = (i / HW) * C * HW + i % HW;
  if (C == 1u) { Y[i] = select(0, 1, S[base] >= params.threshold); return; }
  var best = S[base]; var arg = 0;
  for (var k = 1u; k < C; k++) {
    let v = S[base + k * HW];
    if (v > best) { best = v; arg = i32(k); }
  }
  Y[i] = arg;
}`,
  }));
  engine.dispatch({
    kernel,
    bindings: [scores, y],
    params: { n: y.size, C: c, HW: h * w, threshold },
    workgroups: engine.grid(y.size, WG),
    op,
  });
  return y;
}

/** Options of {@linkcode predict}. */
export interface PredictOptions {
  /** Decision threshold on the probability for one class (default 0.5, as the official code). */
  threshold?: number;
  /** The model's input `[height, width]` (default `[256, 256]`; multiples of 32). */
  inputSize?: readonly [number, number];
  /** Images per forward pass (default: the whole batch at once). */
  batchSize?: number;
}

/** What {@linkcode predict} returns, at the images' own size. */
export interface Prediction {
  /** `(B, H, W)` i32: 0/1 for one class, class ids otherwise. */
  labels: Tensor;
  /** `(B, nc, H, W)` f32: sigmoid probabilities (one class) or softmax over classes. */
  probabilities: Tensor;
}

/**
 * Segments images of any size: resizes them (bilinear) to the model's input size, runs the
 * model in inference mode, resizes the probabilities back to each image's size (bilinear)
 * and thresholds them (one class) or takes the argmax (several). Runs without the tape;
 * temporaries are freed.
 *
 * @param engine The engine of the model.
 * @param model The model.
 * @param image `(B, inChannels, H, W)` NCHW f32, any H and W, scaled as in training.
 * @param options Threshold, model input size, chunking.
 * @returns Labels and probabilities at `H × W`.
 * @throws {ShapeError} for an input that is not `(B, inChannels, H, W)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "@vmunet/tensor";
 * import { predict, preset, VMUNet } from "@vmunet/vmunet";
 * const engine = await Engine.create();
 * const model = VMUNet.create(engine, preset("vmunet-t", { dims: 8 }), { seed: 0 });
 * const image = engine.full([2, 3, 45, 70], 100); // any size
 * const { labels } = predict(engine, model, image, { inputSize: [32, 32] });
 * assert.deepEqual(labels.shape, [2, 45, 70]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 */
export function predict(
  engine: Engine,
  model: VMUNet,
  image: Tensor,
  options: PredictOptions = {},
): Prediction {
  const { inChannels } = model.config;
  if (image.rank !== 4 || image.shape[1] !== inChannels || image.dtype !== "f32") {
    throw new ShapeError(
      "predict",
      `image must be f32 NCHW (B, ${inChannels}, H, W), got ${image.dtype}${
        formatShape(image.shape)
      }`,
    );
  }
  const [inH, inW] = options.inputSize ?? [256, 256];
  const threshold = options.threshold ?? 0.5;
  const [b, , h, w] = image.shape;
  const chunk = Math.max(1, Math.min(b, options.batchSize ?? b));
  return engine.noGrad(() =>
    engine.scope(() => {
      const probs: Tensor[] = [];
      for (let start = 0; start < b; start += chunk) {
        const part = chunk === b ? image : slice(image, [{ start, stop: start + chunk }]);
        probs.push(engine.scope(() => {
          const { output } = model.forward(resizeBilinear(part, inH, inW), { training: false });
          const p = model.config.numClasses === 1 ? output : softmax(output, 1);
          return resizeBilinear(p, h, w);
        }));
      }
      const probabilities = probs.length === 1 ? probs[0] : concat(probs, 0);
      return { labels: decideLabels(probabilities, threshold), probabilities };
    })
  );
}
