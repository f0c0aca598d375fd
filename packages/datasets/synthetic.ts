/**
 * A synthetic lesion-segmentation dataset generated from a seed: dermoscopy-like images (a
 * skin-coloured background with uneven illumination, a dark vignette, skin texture, hairs and
 * freckles) holding one lesion-like blob with an irregular outline, internal pigment texture
 * and varied size and contrast, plus noise; the mask is the exact blob outline.
 *
 * The distractors (vignette corners, hairs, freckles as dark as lesions; some lesions red
 * rather than dark; low-contrast lesions) make it impossible to segment with one intensity
 * threshold: a model has to learn shape and texture. `synthetic_test.ts` measures this.
 *
 * @module
 */

import { DatasetOptionError } from "./errors.ts";
import { Rng } from "./random.ts";
import type { Dataset, DatasetSpec, Sample } from "./sample.ts";

/** Options of {@linkcode SyntheticDataset}. */
export interface SyntheticOptions {
  /** Number of samples (default 256). */
  count?: number;
  /** Side length in pixels of the square images (default 64; 256 matches ISIC). */
  size?: number;
  /** Seed of the generator (default 42). */
  seed?: number;
  /**
   * Per-image min–max scaling of the image to [0, 255] like the ISIC `myNormalize`
   * (default `true`); `false` leaves raw 0–255 pixel values.
   */
  minMax?: boolean;
}

/** Smooth value noise in about [-1, 1] with `cells` cells across the image. */
function valueNoise(rng: Rng, size: number, cells: number): Float64Array {
  const g = cells + 2;
  const grid = new Float64Array(g * g);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.range(-1, 1);
  const out = new Float64Array(size * size);
  const step = cells / size;
  for (let y = 0; y < size; y++) {
    const fy = (y + 0.5) * step;
    const iy = Math.floor(fy);
    let ty = fy - iy;
    ty = ty * ty * (3 - 2 * ty);
    for (let x = 0; x < size; x++) {
      const fx = (x + 0.5) * step;
      const ix = Math.floor(fx);
      let tx = fx - ix;
      tx = tx * tx * (3 - 2 * tx);
      const a = grid[iy * g + ix], b = grid[iy * g + ix + 1];
      const c = grid[(iy + 1) * g + ix], d = grid[(iy + 1) * g + ix + 1];
      out[y * size + x] = (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty;
    }
  }
  return out;
}

/**
 * Generates synthetic sample `index` of the stream named by `seed`: a pure function.
 *
 * @param seed The generator's seed.
 * @param index The sample index.
 * @param size Image side length in pixels.
 * @param minMax Scale the image per image to [0, 255] (see {@linkcode SyntheticOptions}).
 * @returns The sample: RGB image `(3,size,size)` and exact binary mask `(1,size,size)`.
 * @example
 * ```ts
 * import { generateSyntheticSample } from "@vmunet/datasets";
 * const s = generateSyntheticSample(42, 0, 32);
 * console.assert(s.image.length === 3 * 32 * 32 && s.mask.length === 32 * 32);
 * ```
 */
export function generateSyntheticSample(
  seed: number,
  index: number,
  size: number,
  minMax = true,
): Sample {
  const rng = Rng.derive(seed, "synthetic", index);
  const n = size * size;
  // Skin tone and illumination.
  const r0 = rng.range(165, 235);
  const base = [r0, r0 * rng.range(0.66, 0.82), 0];
  base[2] = base[1] * rng.range(0.76, 0.95);
  const light = valueNoise(rng, size, 2);
  const lightAmp = rng.range(0.04, 0.18);
  const skin = valueNoise(rng, size, Math.max(4, Math.round(size / 6)));
  const skinAmp = rng.range(0.02, 0.07);
  const vignette = rng.chance(0.7) ? rng.range(0.3, 0.95) : 0;
  const vigRadius = rng.range(0.45, 0.7);
  // Lesion geometry: an irregular star-shaped blob (exact outline r(θ)).
  const cx = rng.range(0.25, 0.75) * size, cy = rng.range(0.25, 0.75) * size;
  const radius = rng.range(0.09, 0.3) * size;
  const aspect = rng.range(0.65, 1);
  const tilt = rng.range(0, Math.PI);
  const harmonics: [number, number, number][] = [];
  for (let k = 2; k <= 6; k++) {
    harmonics.push([k, rng.range(0, 0.28 / k), rng.range(0, 2 * Math.PI)]);
  }
  const radial = (theta: number): number => {
    let r = 1;
    for (const [k, a, ph] of harmonics) r += a * Math.cos(k * theta + ph);
    return r * radius;
  };
  // Lesion colour: mostly darker and browner, sometimes reddish; contrast varies widely.
  const reddish = rng.chance(0.2);
  const contrast = rng.range(0.1, 0.6);
  // Per-channel darkening weights: brown lesions darken G and B most, red ones raise R.
  const tint = reddish ? [-0.1, 0.45, 0.4] : [0.8, 1.0, 1.1];
  const pigment = valueNoise(rng, size, Math.max(3, Math.round(size / 5)));
  const pigmentAmp = rng.range(0.1, 0.35);
  const centreDarker = rng.range(-0.3, 0.4);
  const edgeSoftness = rng.range(0.5, 2.5);
  // Distractors: hairs (quadratic Bézier strokes) and freckles, as dark as lesions.
  const hairs: number[][] = [];
  const hairCount = rng.chance(0.6) ? rng.int(1, 6) : 0;
  for (let h = 0; h < hairCount; h++) {
    hairs.push([
      rng.range(-0.1, 1.1) * size,
      rng.range(-0.1, 1.1) * size,
      rng.range(0, 1) * size,
      rng.range(0, 1) * size,
      rng.range(-0.1, 1.1) * size,
      rng.range(-0.1, 1.1) * size,
      rng.range(0.4, 1.2) * Math.max(1, size / 64),
      rng.range(0.35, 0.7),
    ]);
  }
  const freckles: number[][] = [];
  const freckleCount = rng.int(0, 5);
  for (let f = 0; f < freckleCount; f++) {
    freckles.push([
      rng.range(0, 1) * size,
      rng.range(0, 1) * size,
      rng.range(0.012, 0.035) * size,
      rng.range(0.3, 0.7),
    ]);
  }
  const noiseSigma = rng.range(2, 9);

  const image = new Float32Array(3 * n);
  const mask = new Float32Array(n);
  const cosT = Math.cos(tilt), sinT = Math.sin(tilt);
  const hairDarkness = new Float64Array(n);
  for (const [x0, y0, x1, y1, x2, y2, width, dark] of hairs) {
    const steps = Math.ceil(size * 3);
    for (let s = 0; s <= steps; s++) {
      const t = s / steps;
      const px = (1 - t) * (1 - t) * x0 + 2 * (1 - t) * t * x1 + t * t * x2;
      const py = (1 - t) * (1 - t) * y0 + 2 * (1 - t) * t * y1 + t * t * y2;
      const rad = Math.ceil(width + 1);
      for (let y = Math.max(0, Math.floor(py) - rad); y <= Math.min(size - 1, py + rad); y++) {
        for (let x = Math.max(0, Math.floor(px) - rad); x <= Math.min(size - 1, px + rad); x++) {
          const d = Math.hypot(x + 0.5 - px, y + 0.5 - py);
          const v = dark * Math.max(0, Math.min(1, width - d + 0.5));
          if (v > hairDarkness[y * size + x]) hairDarkness[y * size + x] = v;
        }
      }
    }
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      const px = x + 0.5, py = y + 0.5;
      // Background.
      const u = px / size - 0.5, v = py / size - 0.5;
      const rr = Math.hypot(u, v) / 0.7071;
      const vig = vignette > 0
        ? 1 - vignette * Math.min(1, Math.max(0, (rr - vigRadius) / (1 - vigRadius)) ** 1.5)
        : 1;
      const shade = (1 + lightAmp * light[p] + skinAmp * skin[p]) * vig;
      const c = [base[0] * shade, base[1] * shade, base[2] * shade];
      // Lesion: signed distance-like coordinate along the outline.
      const dx = px - cx, dy = py - cy;
      const ex = dx * cosT + dy * sinT, ey = (-dx * sinT + dy * cosT) / aspect;
      const theta = Math.atan2(ey, ex);
      const rho = Math.hypot(ex, ey);
      const edge = radial(theta);
      const inside = rho <= edge;
      mask[p] = inside ? 1 : 0;
      const depth = (edge - rho) / edgeSoftness; // >0 inside, in pixels / softness
      const alpha = Math.max(0, Math.min(1, 0.5 + depth));
      if (alpha > 0) {
        const radialPos = Math.min(1, rho / Math.max(edge, 1e-6));
        const strength = contrast * (1 + centreDarker * (1 - radialPos)) *
          (1 + pigmentAmp * pigment[p]);
        for (let ch = 0; ch < 3; ch++) {
          const lesion = c[ch] * Math.max(0.05, 1 - strength * tint[ch]);
          c[ch] = c[ch] * (1 - alpha) + lesion * alpha;
        }
      }
      for (const [fx, fy, fr, dark] of freckles) {
        const d = Math.hypot(px - fx, py - fy);
        if (d < fr + 1) {
          const a = Math.max(0, Math.min(1, fr - d + 0.5)) * dark;
          c[0] *= 1 - a * 0.9;
          c[1] *= 1 - a;
          c[2] *= 1 - a;
        }
      }
      const hd = hairDarkness[p];
      for (let ch = 0; ch < 3; ch++) {
        const val = c[ch] * (1 - hd) + noiseSigma * rng.normal();
        image[ch * n + p] = Math.round(Math.max(0, Math.min(255, val)));
      }
    }
  }
  if (minMax) {
    let lo = Infinity, hi = -Infinity;
    for (const v of image) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    for (let i = 0; i < image.length; i++) image[i] = (image[i] - lo) * scale;
  }
  return {
    name: `synthetic_${String(index).padStart(6, "0")}`,
    channels: 3,
    height: size,
    width: size,
    image,
    mask,
  };
}

/**
 * The synthetic dataset: `count` samples generated on demand from `seed`, no download. The
 * default dataset of `deno task train`.
 *
 * @example
 * ```ts
 * import { SyntheticDataset } from "@vmunet/datasets";
 * const ds = new SyntheticDataset({ count: 4, size: 32, seed: 1 });
 * const s = await ds.get(0);
 * console.assert(ds.length === 4 && s.height === 32);
 * ```
 */
export class SyntheticDataset implements Dataset {
  /** Number of samples. */
  readonly length: number;
  /** Always 1 (binary masks). */
  readonly numClasses: number = 1;
  /** Image side length. */
  readonly size: number;
  /** Generator seed. */
  readonly seed: number;
  /** Whether images are min–max scaled to [0, 255]. */
  readonly minMax: boolean;
  /** The recipe that reopens this dataset. */
  readonly spec: DatasetSpec;

  /** Creates the dataset (nothing is generated until {@linkcode SyntheticDataset.get}). */
  constructor(options: SyntheticOptions = {}) {
    this.length = options.count ?? 256;
    this.size = options.size ?? 64;
    this.seed = options.seed ?? 42;
    this.minMax = options.minMax ?? true;
    if (!Number.isInteger(this.length) || this.length < 1) {
      throw new DatasetOptionError("count", `must be a positive integer, got ${options.count}`);
    }
    if (!Number.isInteger(this.size) || this.size < 8) {
      throw new DatasetOptionError("size", `must be an integer ≥ 8, got ${options.size}`);
    }
    this.spec = {
      kind: "synthetic",
      options: { count: this.length, size: this.size, seed: this.seed, minMax: this.minMax },
    };
  }

  /** Sample names `synthetic_000000`, … */
  get names(): readonly string[] {
    return Array.from({ length: this.length }, (_, i) => `synthetic_${String(i).padStart(6, "0")}`);
  }

  /** Generates sample `index` (the same for every epoch: the data is already random). */
  get(index: number, _epoch?: number): Promise<Sample> {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      return Promise.reject(
        new DatasetOptionError("index", `${index} is outside [0, ${this.length})`),
      );
    }
    return Promise.resolve(generateSyntheticSample(this.seed, index, this.size, this.minMax));
  }
}
