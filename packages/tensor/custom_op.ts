/**
 * Public registration of custom differentiable ops whose forward and backward encode their
 * own dispatches (the selective scan and fused kernels plug in this way).
 *
 * @module
 */

import type { Engine } from "./engine.ts";
import type { Tensor } from "./tensor.ts";
import { GradError, TensorError } from "./tensor_errors.ts";

/** What a custom op's forward returns. */
export interface CustomForwardResult<S> {
  /** The op's outputs (new tensors, e.g. from `engine.empty`). */
  outputs: Tensor[];
  /** Anything the backward needs (saved tensors stay alive until the enclosing scope ends). */
  saved?: S;
}

/** Arguments of a custom op's backward. */
export interface CustomBackwardArgs<A, S> {
  /** The engine. */
  engine: Engine;
  /** The forward's inputs. */
  inputs: readonly Tensor[];
  /** The forward's outputs. */
  outputs: readonly Tensor[];
  /** ∂L/∂output per output; `null` for outputs that received no gradient. */
  gradOutputs: readonly (Tensor | null)[];
  /** The forward's `saved`. */
  saved: S | undefined;
  /** The attributes the op was called with. */
  attrs: A;
}

/** A custom op: a name, a forward and (optionally) a backward. */
export interface CustomOpDefinition<A, S = unknown> {
  /** Name quoted in errors and stats. */
  name: string;
  /**
   * Computes the outputs. Runs with the tape off; may dispatch its own kernels
   * (`engine.kernel` + `engine.dispatch`, or raw pipelines on `engine.computePass()`), bind
   * `tensor.buffer`s and allocate outputs/temporaries with `engine.empty`. `recording` says
   * whether the op is recorded on the tape ({@linkcode Engine.willRecord}); when it is
   * false no backward will run, so nothing needs saving for one.
   */
  forward(
    engine: Engine,
    inputs: readonly Tensor[],
    attrs: A,
    recording: boolean,
  ): CustomForwardResult<S>;
  /**
   * Gradients of the inputs (`null` where none), same shapes as the inputs. Runs with the
   * tape off; temporaries it creates are disposed after it returns. Omit for a
   * non-differentiable op (backward through it then raises a {@linkcode GradError}).
   */
  backward?(args: CustomBackwardArgs<A, S>): readonly (Tensor | null)[];
}

/** A registered custom op: call it with input tensors and attributes, get its outputs. */
export type CustomOp<A> = (inputs: readonly Tensor[], attrs: A) => Tensor[];

/**
 * Turns a forward/backward pair into a differentiable op recorded on the tape.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, type Tensor } from "@vmunet/tensor";
 * import { defineOp } from "@vmunet/tensor/kernels";
 * // y = x·k, with a hand-written kernel and a backward that reuses it.
 * const scale: (inputs: readonly Tensor[], attrs: { k: number }) => Tensor[] = defineOp<{ k: number }>({
 *   name: "scale",
 *   forward(engine, [x], { k }) {
 *     const kernel = engine.kernel("example.scale", () => ({
 *       params: { n: "u32", k: "f32" },
 *       bindings: [{ name: "x" }, { name: "y", access: "read_write" }],
 *       code: `@compute @workgroup_size(64)
 * fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
 *   let i = lin(gid, nwg, 64u);
 *   if (i < params.n) { y[i] = x[i] * params.k; }
 * }`,
 *     }));
 *     const y = engine.empty(x.shape);
 *     const params = { n: x.size, k };
 *     engine.dispatch({ kernel, bindings: [x, y], params, workgroups: engine.grid(x.size, 64) });
 *     return { outputs: [y] };
 *   },
 *   backward({ gradOutputs: [g], attrs }): Tensor[] {
 *     return [scale([g!], attrs)[0]];
 *   },
 * });
 * const engine = await Engine.create();
 * const x = engine.tensor([1, 2, 3], [3], { requiresGrad: true });
 * const [y] = scale([x], { k: 3 });
 * y.backward(engine.tensor([1, 1, 1], [3]));
 * assert.deepEqual(Array.from(await y.read()), [3, 6, 9]);
 * assert.deepEqual(Array.from(await x.grad!.read()), [3, 3, 3]);
 * engine.destroy();
 * ```
 *
 * @param definition Name, forward, backward.
 * @returns The op.
 */
export function defineOp<A = undefined, S = unknown>(
  definition: CustomOpDefinition<A, S>,
): CustomOp<A> {
  const op = definition.name;
  return (inputs: readonly Tensor[], attrs: A): Tensor[] => {
    if (inputs.length === 0) throw new TensorError(op, "needs at least one input tensor");
    const engine = inputs[0].engine;
    for (const t of inputs) t.storageFor(op);
    const recording = engine.willRecord(inputs);
    const result = engine.noGrad(() => definition.forward(engine, inputs, attrs, recording));
    const outputs = result.outputs;
    if (!Array.isArray(outputs) || outputs.length === 0) {
      throw new TensorError(op, "forward must return { outputs: Tensor[] } with at least one");
    }
    engine.record(op, inputs, outputs, (gradOutputs) => {
      if (!definition.backward) {
        throw new GradError(op, "this custom op defines no backward");
      }
      return definition.backward({
        engine,
        inputs,
        outputs,
        gradOutputs,
        saved: result.saved,
        attrs,
      });
    });
    return outputs;
  };
}
