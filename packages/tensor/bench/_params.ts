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
  #i = new Int32Array(this.words.buffer);
  /** Words written so far. */
  length = 0;
  /** Appends unsigned integers. */
  u(...values: number[]): this {
    for (const v of values) this.words[this.length++] = v;
    return this;
  }
  /** Appends signed integers. */
  i(...values: number[]): this {
    for (const v of values) this.#i[this.length++] = v;
    return this;
  }
  /** Appends floats. */
  f(...values: number[]): this {
    for (const v of values) this.#f[this.length++] = v;
    return this;
  }
  /** Appends `values` padded with `pad` to `count` words (signed). */
  padded(values: readonly number[], count: number, pad = 1): this {
    for (let k = 0; k < count; k++) this.#i[this.length++] = k < values.length ? values[k] : pad;
    return this;
  }
  /** The words written. */
  get view(): Uint32Array {
    return this.words.subarray(0, this.length);
  }
}
