/**
 * What every block shares: forward options, named parameters under the official key
 * suffixes, and the parameter factory that initialises them from a seeded generator.
 *
 * @module
 */

import {
  type Engine,
  initFanInUniform,
  initKaimingUniform,
  initOnes,
  initTruncNormal,
  initZeros,
  type Rng,
  type Tensor,
} from "@vmunet/tensor";

/** Options of every block's `forward`. */
export interface ForwardOptions {
  /** Training mode (default true): DropPath is active only in training. */
  training?: boolean;
  /** Generator of the DropPath masks (needed only when a drop rate is > 0 in training). */
  rng?: Rng;
}

/** A block holding parameters under the official `state_dict` key suffixes. */
export interface Module {
  /**
   * The parameters as `[key suffix, tensor]` in the official `state_dict` order, e.g.
   * `["ln_1.weight", t]`, `["self_attention.A_logs", t]`.
   */
  namedParameters(): [string, Tensor][];
}

/**
 * Creates persistent parameters with a label `prefix + suffix` (quoted in errors), from
 * values drawn by the caller with {@linkcode ParameterFactory.rng}.
 */
export class ParameterFactory {
  /** The engine the parameters live on. */
  readonly engine: Engine;
  /** The generator initial values are drawn from (one stream per tensor). */
  readonly rng: Rng;
  /** Label prefix, e.g. `vmunet.layers.0.blocks.0.` (empty by default). */
  readonly prefix: string;

  /**
   * Creates a factory.
   *
   * @param engine The engine.
   * @param rng The generator.
   * @param prefix Label prefix.
   */
  constructor(engine: Engine, rng: Rng, prefix: string = "") {
    this.engine = engine;
    this.rng = rng;
    this.prefix = prefix;
  }

  /**
   * A factory for a sub-module: same engine and generator, longer prefix.
   *
   * @param name The sub-module's name (`self_attention`, `blocks.0`, …).
   * @returns The child factory.
   */
  child(name: string): ParameterFactory {
    return new ParameterFactory(this.engine, this.rng, `${this.prefix}${name}.`);
  }

  /**
   * Uploads a parameter.
   *
   * @param suffix Its key suffix (`ln_1.weight`).
   * @param values Initial values.
   * @param shape Its shape.
   * @returns The parameter (requires grad, never disposed by a scope).
   */
  make(suffix: string, values: ArrayLike<number>, shape: readonly number[]): Tensor {
    return this.engine.parameter(values, shape, `${this.prefix}${suffix}`);
  }
}

/**
 * A {@linkcode Module} that lists its parameters in the order it registers them, as PyTorch
 * lists `state_dict` keys in registration order: each key suffix is written once, where the
 * parameter (or sub-module) is made, and {@linkcode BaseModule.namedParameters} follows.
 * Registration order is also the order the initial values are drawn from the generator.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, Rng, type Tensor } from "@vmunet/tensor";
 * import { BaseModule, ParameterFactory } from "@vmunet/vss-block";
 * class Norm extends BaseModule {
 *   readonly weight: Tensor;
 *   readonly bias: Tensor;
 *   constructor(f: ParameterFactory) {
 *     super(f);
 *     [this.weight, this.bias] = this.layerNorm("norm", 4);
 *   }
 * }
 * const engine = await Engine.create();
 * const norm = new Norm(new ParameterFactory(engine, new Rng(0)));
 * assert.deepEqual(norm.namedParameters().map(([k]) => k), ["norm.weight", "norm.bias"]);
 * assert.deepEqual([...await norm.weight.read()], [1, 1, 1, 1]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 */
export abstract class BaseModule implements Module {
  readonly #factory: ParameterFactory;
  readonly #named: [string, Tensor][] = [];

  /**
   * Starts an empty parameter list.
   *
   * @param f The factory every parameter of this module is made with.
   */
  constructor(f: ParameterFactory) {
    this.#factory = f;
  }

  /** The parameters in registration order (the official `state_dict` order). */
  namedParameters(): [string, Tensor][] {
    return [...this.#named];
  }

  /**
   * Makes a parameter and registers it.
   *
   * @param suffix Its key suffix (`A_logs`).
   * @param values Initial values.
   * @param shape Its shape.
   * @returns The parameter.
   */
  protected parameter(suffix: string, values: ArrayLike<number>, shape: readonly number[]): Tensor {
    const t = this.#factory.make(suffix, values, shape);
    this.#named.push([suffix, t]);
    return t;
  }

  /**
   * An `nn.Linear` weight without bias: `name.weight (out, in)`, {@linkcode initLinearWeight}.
   *
   * @param name The linear layer's name (`in_proj`).
   * @param outDim Output width.
   * @param inDim Input width.
   * @returns The weight.
   */
  protected linearWeight(name: string, outDim: number, inDim: number): Tensor {
    const shape = [outDim, inDim];
    return this.parameter(`${name}.weight`, initLinearWeight(shape, this.#factory.rng), shape);
  }

  /**
   * An `nn.Conv2d` with bias and PyTorch's default initialisation: `name.weight`
   * kaiming-uniform (a = √5), `name.bias (out)` uniform ±1/√fan-in.
   *
   * @param name The conv's name (`proj`).
   * @param shape The weight shape `(out, in/groups, kh, kw)`.
   * @returns `[weight, bias]`.
   */
  protected conv2d(name: string, shape: readonly number[]): [Tensor, Tensor] {
    const rng = this.#factory.rng;
    const weight = this.parameter(`${name}.weight`, initKaimingUniform(shape, rng), shape);
    return [weight, this.parameter(`${name}.bias`, initFanInUniform(shape, rng), [shape[0]])];
  }

  /**
   * An `nn.LayerNorm(width)`: `name.weight` ones, `name.bias` zeros.
   *
   * @param name The norm's name (`ln_1`).
   * @param width Normalised width.
   * @returns `[weight, bias]`.
   */
  protected layerNorm(name: string, width: number): [Tensor, Tensor] {
    return [
      this.parameter(`${name}.weight`, initOnes(width), [width]),
      this.parameter(`${name}.bias`, initZeros(width), [width]),
    ];
  }

  /**
   * Builds a sub-module on a child factory and registers its parameters as `name.*`.
   *
   * @param name The sub-module's name (`self_attention`, `blocks.0`).
   * @param build Builds it from the child factory.
   * @returns The sub-module.
   */
  protected submodule<M extends Module>(name: string, build: (f: ParameterFactory) => M): M {
    const m = build(this.#factory.child(name));
    this.#named.push(...prefixed(name, m.namedParameters()));
    return m;
  }
}

/** Prefixes every key of `params` with `name.`. */
function prefixed(name: string, params: [string, Tensor][]): [string, Tensor][] {
  return params.map(([k, t]) => [`${name}.${k}`, t]);
}

/**
 * The `nn.Linear` weight initialisation of VM-UNet (timm `trunc_normal_(std=0.02)`, absolute
 * bounds ±2): normal draws with out-of-bounds values redrawn, which is exactly the
 * truncated normal in distribution and ~7× faster than inverse-CDF sampling (the bounds lie
 * 100σ out, so a redraw practically never happens). Falls back to
 * {@linkcode initTruncNormal} for bounds closer than 3σ.
 *
 * @param shape The weight shape.
 * @param rng The generator (consumes one stream, more only on redraws).
 * @param std Standard deviation (default 0.02).
 * @param a Lower bound (default −2).
 * @param b Upper bound (default 2).
 * @returns The values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "@vmunet/tensor";
 * import { initLinearWeight } from "@vmunet/vss-block";
 * const w = initLinearWeight([384, 96], new Rng(0));
 * assert.equal(w.length, 36864);
 * assert.ok(Math.max(...w.map(Math.abs)) < 0.2); // trunc normal, std 0.02, cut at ±2
 * ```
 */
export function initLinearWeight(
  shape: readonly number[],
  rng: Rng,
  std: number = 0.02,
  a: number = -2,
  b: number = 2,
): Float32Array {
  if (-a / std < 3 || b / std < 3) return initTruncNormal(shape, rng, { std, a, b });
  const n = shape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(n);
  const z = rng.normal(n);
  const redo: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = z[i] * std;
    if (v < a || v > b) redo.push(i);
    else out[i] = v;
  }
  while (redo.length > 0) {
    const more = rng.normal(redo.length);
    const still: number[] = [];
    redo.forEach((i, j) => {
      const v = more[j] * std;
      if (v < a || v > b) still.push(i);
      else out[i] = v;
    });
    redo.splice(0, redo.length, ...still);
  }
  return out;
}
