/**
 * Positional packing of a dispatch's params words (read in WGSL with `pu(i)`, `pi(i)`,
 * `pf(i)`), kept for the baseline kernels of the benchmarks; the package's kernels declare
 * their params by name.
 *
 * @module
 */

/**
 * Packs u32/i32/f32 words for {@linkcode Engine.dispatch}'s `params` (at most 64 words).
 */
export class Params {
  /** The words. */
  readonly words: Uint32Array = new Uint32Array(64);
  #f = new Float32Array(this.words.buffer);
  /** Words written so far. */
  length = 0;
  /** Appends unsigned integers. */
  u(...values: number[]): this {
    for (const v of values) this.words[this.length++] = v;
    return this;
  }
  /** Appends floats. */
  f(...values: number[]): this {
    for (const v of values) this.#f[this.length++] = v;
    return this;
  }
  /** The words written. */
  get view(): Uint32Array {
    return this.words.subarray(0, this.length);
  }
}
