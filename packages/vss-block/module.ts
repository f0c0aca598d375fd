/**
 * What every block shares: forward options, named parameters under the official key
 * suffixes, and the parameter factory that initialises them from a seeded generator.
 *
 * @module
 */

import type { Engine, Rng, Tensor } from "@vmunet/tensor";

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

/** Prefixes every key of `params` with `name.`. */
export function prefixed(name: string, params: [string, Tensor][]): [string, Tensor][] {
  return params.map(([k, t]) => [`${name}.${k}`, t]);
}
