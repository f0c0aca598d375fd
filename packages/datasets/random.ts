/**
 * Seeded, counter-derived random numbers: every stream is addressed by a seed and a path of
 * keys (epoch, sample index, purpose), so the augmentation of sample `i` in epoch `e` does not
 * depend on which worker produced it or in which order samples were read.
 *
 * @module
 */

/** Murmur3's 32-bit finaliser: a bijective, well-mixed 32-bit hash step. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function keyWord(key: number | string): number {
  if (typeof key === "number") {
    if (Number.isInteger(key) && Math.abs(key) < 2 ** 31) return key | 0;
    // Non-integer or large numbers: mix both halves of the float64 bit pattern.
    const f = new Float64Array([key]);
    const u = new Uint32Array(f.buffer);
    return fmix32(u[0] ^ fmix32(u[1]));
  }
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Hashes a seed and a path of keys to a 32-bit word.
 *
 * @param seed The run's seed.
 * @param keys The path (numbers or strings) that names the stream.
 * @returns An unsigned 32-bit hash.
 */
export function hashKeys(seed: number, ...keys: (number | string)[]): number {
  let h = fmix32(keyWord(seed) ^ 0x9e3779b9);
  for (const k of keys) h = fmix32((h + 0x9e3779b9 + fmix32(keyWord(k))) >>> 0);
  return h;
}

/**
 * A small fast generator (sfc32) seeded from a hash of `(seed, ...keys)`.
 *
 * @example
 * ```ts
 * import { Rng } from "@vmunet/datasets";
 * const a = Rng.derive(42, "augment", 3, 17).uniform();
 * const b = Rng.derive(42, "augment", 3, 17).uniform();
 * console.assert(a === b && a >= 0 && a < 1);
 * ```
 */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Creates a generator from four 32-bit state words (use {@linkcode Rng.derive} instead). */
  constructor(a: number, b: number, c: number, d: number) {
    this.#a = a >>> 0;
    this.#b = b >>> 0;
    this.#c = c >>> 0;
    this.#d = d >>> 0;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /**
   * The generator of the stream named by `(seed, ...keys)`.
   *
   * @param seed The run's seed.
   * @param keys The stream's path, e.g. `("augment", epoch, index)`.
   * @returns A fresh generator; equal arguments give equal sequences.
   */
  static derive(seed: number, ...keys: (number | string)[]): Rng {
    const h = hashKeys(seed, ...keys);
    return new Rng(h, fmix32(h ^ 0x6a09e667), fmix32(h ^ 0xbb67ae85), 1);
  }

  /** The next unsigned 32-bit integer. */
  nextUint32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A float in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** An integer in [lo, hi) (hi exclusive, like `numpy.random.randint`). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo));
  }

  /** A standard normal deviate (Box–Muller). */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** `true` with probability `p`. */
  chance(p: number): boolean {
    return this.uniform() < p;
  }

  /** A uniformly random permutation of `0..n-1` (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1));
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
