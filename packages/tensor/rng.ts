/**
 * A seeded counter-based pseudo-random generator (Philox4x32-10, Salmon et al. 2011) that
 * gives the same bits on the CPU (TypeScript) and on the GPU (WGSL).
 *
 * A random number is a pure function of `(key, counter)`: the key is the seed (two 32-bit
 * words), the counter is `(block, stream, 0, 0)`. Each block gives four 32-bit words, so
 * element `i` of a draw on stream `s` is word `i % 4` of `philox4x32(([i / 4], s, 0, 0), key)`.
 * Kernels and CPU code that agree on `(seed, stream, i)` agree on the bits, whatever the
 * order in which elements are computed.
 *
 * @module
 */

/** Philox multipliers and Weyl key increments (Random123). */
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** 2^-24: turns the top 24 bits of a word into a float32-exact uniform in [0, 1). */
const INV_2_24 = 1 / 16777216;

/** High 32 bits of the 64-bit product of two u32 (16-bit limbs; doubles stay exact). */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff, aHi = a >>> 16, bLo = b & 0xffff, bHi = b >>> 16;
  const ll = aLo * bLo, lh = aLo * bHi, hl = aHi * bLo, hh = aHi * bHi;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) >>> 0;
}

/**
 * Philox4x32 with 10 rounds: maps a 128-bit counter and a 64-bit key to 128 random bits.
 *
 * @param counter Four u32 words.
 * @param key Two u32 words.
 * @param out Where to write the four output words (allocated when omitted).
 * @returns `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { philox4x32 } from "@vmunet/tensor/kernels";
 * const bits = philox4x32([0, 0, 0, 0], [0, 0]);
 * assert.equal(bits[0].toString(16), "6627e8d5"); // Random123 known answer
 * ```
 */
export function philox4x32(
  counter: ArrayLike<number>,
  key: ArrayLike<number>,
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  let c0 = counter[0] >>> 0, c1 = counter[1] >>> 0, c2 = counter[2] >>> 0, c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0, k1 = key[1] >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/**
 * The key (two u32 words) of a seed: a non-negative integer below 2^53.
 *
 * @param seed The seed.
 * @returns `[low 32 bits, high bits]`.
 * @throws {RangeError} when the seed is not a safe non-negative integer.
 */
export function seedKey(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`rng: seed must be a non-negative safe integer, got ${seed}`);
  }
  return [seed >>> 0, Math.floor(seed / 4294967296) >>> 0];
}

/**
 * Maps a random u32 to a float32-exact uniform in [0, 1): the top 24 bits times 2^-24.
 *
 * @param bits A u32.
 * @returns The uniform.
 */
export function uniformFromBits(bits: number): number {
  return (bits >>> 8) * INV_2_24;
}

/**
 * Fills `count` u32 words of stream `stream` under `seed` (element `i` as in the module doc).
 *
 * @param seed The seed.
 * @param stream The stream index (u32).
 * @param count How many words.
 * @returns The words.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomBits } from "@vmunet/tensor/kernels";
 * assert.equal(randomBits(42, 0, 6).length, 6);
 * ```
 */
export function randomBits(seed: number, stream: number, count: number): Uint32Array {
  const key = seedKey(seed);
  const out = new Uint32Array(count);
  const block = new Uint32Array(4);
  const counter = [0, stream >>> 0, 0, 0];
  for (let b = 0; b * 4 < count; b++) {
    counter[0] = b;
    philox4x32(counter, key, block);
    for (let j = 0; j < 4 && b * 4 + j < count; j++) out[b * 4 + j] = block[j];
  }
  return out;
}

/**
 * `count` uniforms in [0, 1) from stream `stream` under `seed`; identical bit for bit to
 * `philox_uniform` in {@linkcode RNG_WGSL}.
 *
 * @param seed The seed.
 * @param stream The stream index (u32).
 * @param count How many numbers.
 * @returns The uniforms (float32-exact values).
 */
export function randomUniform(seed: number, stream: number, count: number): Float32Array {
  const bits = randomBits(seed, stream, count);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = uniformFromBits(bits[i]);
  return out;
}

/**
 * `count` standard normals (Box–Muller on pairs of words: words `2j` and `2j+1` give
 * normals `2j` and `2j+1`), the CPU twin of `philox_normal` in {@linkcode RNG_WGSL}
 * (equal up to the GPU's `log`/`cos` rounding, a few float32 ulps).
 *
 * @param seed The seed.
 * @param stream The stream index (u32).
 * @param count How many numbers.
 * @returns The normals in float64.
 */
export function randomNormal(seed: number, stream: number, count: number): Float64Array {
  const n2 = count + (count & 1);
  const bits = randomBits(seed, stream, n2);
  const out = new Float64Array(count);
  for (let j = 0; j < n2; j += 2) {
    // u1 in (0, 1] so the log is finite.
    const u1 = ((bits[j] >>> 8) + 1) * INV_2_24;
    const u2 = (bits[j + 1] >>> 8) * INV_2_24;
    const r = Math.sqrt(-2 * Math.log(u1));
    const t = 2 * Math.PI * u2;
    out[j] = r * Math.cos(t);
    if (j + 1 < count) out[j + 1] = r * Math.sin(t);
  }
  return out;
}

/**
 * A seeded source of independent draws: every call takes the next stream, so the values
 * depend only on the seed and on how many draws came before (not on sizes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "@vmunet/tensor";
 * const rng = new Rng(42);
 * const u = rng.uniform(4); // stream 0
 * const z = rng.normal(3); // stream 1
 * assert.deepEqual([u.length, z.length, rng.stream], [4, 3, 2]);
 * ```
 */
export class Rng {
  /** The seed (a non-negative safe integer). */
  readonly seed: number;
  /** The stream the next draw uses. */
  stream: number;

  /**
   * Creates a generator.
   *
   * @param seed The seed, a non-negative safe integer.
   * @param stream The first stream (default 0).
   */
  constructor(seed: number, stream: number = 0) {
    seedKey(seed);
    this.seed = seed;
    this.stream = stream >>> 0;
  }

  /** Reserves and returns the next stream index (for a GPU kernel to draw from). */
  nextStream(): number {
    const s = this.stream;
    this.stream = (this.stream + 1) >>> 0;
    return s;
  }

  /**
   * Draws `count` u32 words.
   * @param count How many.
   * @returns The words.
   */
  bits(count: number): Uint32Array {
    return randomBits(this.seed, this.nextStream(), count);
  }

  /**
   * Draws `count` uniforms in [0, 1).
   * @param count How many.
   * @returns The uniforms.
   */
  uniform(count: number): Float32Array {
    return randomUniform(this.seed, this.nextStream(), count);
  }

  /**
   * Draws `count` standard normals (float64).
   * @param count How many.
   * @returns The normals.
   */
  normal(count: number): Float64Array {
    return randomNormal(this.seed, this.nextStream(), count);
  }
}

/**
 * WGSL functions of the same generator, to paste into a kernel:
 * `philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32>`,
 * `philox_bits(key: vec2<u32>, stream: u32, i: u32) -> u32` (element `i` of a stream),
 * `philox_uniform(key, stream, i) -> f32` in [0, 1) and
 * `philox_normal(key, stream, i) -> f32` (Box–Muller, pairs `(2j, 2j+1)` as on the CPU).
 * The key is {@linkcode seedKey}`(seed)`.
 */
export const RNG_WGSL: string = /* wgsl */ `
fn philox_mulhi(a: u32, b: u32) -> u32 {
  let a_lo = a & 0xffffu; let a_hi = a >> 16u;
  let b_lo = b & 0xffffu; let b_hi = b >> 16u;
  let ll = a_lo * b_lo; let lh = a_lo * b_hi; let hl = a_hi * b_lo; let hh = a_hi * b_hi;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}
fn philox4x32_10(ctr_in: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
  var c = ctr_in;
  var k = key_in;
  for (var r = 0u; r < 10u; r++) {
    let hi0 = philox_mulhi(0xd2511f53u, c.x); let lo0 = 0xd2511f53u * c.x;
    let hi1 = philox_mulhi(0xcd9e8d57u, c.z); let lo1 = 0xcd9e8d57u * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2<u32>(0x9e3779b9u, 0xbb67ae85u);
  }
  return c;
}
fn philox_bits(key: vec2<u32>, stream: u32, i: u32) -> u32 {
  let b = philox4x32_10(vec4<u32>(i >> 2u, stream, 0u, 0u), key);
  return b[i & 3u];
}
fn philox_uniform(key: vec2<u32>, stream: u32, i: u32) -> f32 {
  return f32(philox_bits(key, stream, i) >> 8u) * 5.9604644775390625e-8;
}
fn philox_normal(key: vec2<u32>, stream: u32, i: u32) -> f32 {
  let j = i & ~1u;
  let b = philox4x32_10(vec4<u32>(j >> 2u, stream, 0u, 0u), key);
  let w0 = select(b.x, b.z, (j & 2u) != 0u);
  let w1 = select(b.y, b.w, (j & 2u) != 0u);
  let u1 = f32((w0 >> 8u) + 1u) * 5.9604644775390625e-8;
  let u2 = f32(w1 >> 8u) * 5.9604644775390625e-8;
  let r = sqrt(-2.0 * log(u1));
  let t = 6.283185307179586 * u2;
  return select(r * cos(t), r * sin(t), (i & 1u) != 0u);
}
`;
