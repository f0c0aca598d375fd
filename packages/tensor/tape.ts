/**
 * The define-by-run tape: whether ops record (`noGrad`), how an op records its backward
 * onto its outputs, and the reverse-mode sweep that accumulates gradients.
 *
 * @module
 */

import type { Engine } from "./engine.ts";
import { nextTensorId_, type TapeNode, type Tensor } from "./tensor.ts";
import { formatShape, GradError, ShapeError } from "./tensor_errors.ts";
import { mapKernel } from "./ops/_kernels.ts";
import { sameShape } from "./ops/_shape.ts";

/** The recording state of one engine. */
export class Tape {
  #noGrad = 0;

  /** Runs `fn` with recording off (see `Engine.noGrad`). */
  noGrad<T>(fn: () => T): T {
    this.#noGrad++;
    try {
      return fn();
    } finally {
      this.#noGrad--;
    }
  }

  /** Whether ops currently record onto the tape. */
  get enabled(): boolean {
    return this.#noGrad === 0;
  }

  /** Whether an op on `inputs` would be recorded now (see `Engine.willRecord`). */
  willRecord(inputs: readonly Tensor[]): boolean {
    return this.#noGrad === 0 && inputs.some((t) => t.requiresGrad);
  }

  /** Records an op's node onto its f32 outputs (see `Engine.record`). */
  record(node: TapeNode): void {
    if (!this.willRecord(node.inputs)) return;
    for (const o of node.outputs) {
      if (o.dtype !== "f32") continue;
      o.requiresGrad = true;
      o.node = node;
    }
  }

  /** Checks `root` and `seed`, then back-propagates with recording off (see `Engine.backward`). */
  backward(engine: Engine, root: Tensor, seed?: Tensor): void {
    root.storageFor("backward");
    if (!root.requiresGrad) {
      throw new GradError(
        "backward",
        `tensor ${root.label ? `"${root.label}" ` : ""}of shape ${
          formatShape(root.shape)
        } does not require grad (no input of the ops that produced it requires grad, or it ` +
          `was computed under noGrad)`,
      );
    }
    if (seed) {
      seed.storageFor("backward");
      if (!sameShape(seed.shape, root.shape)) {
        throw new ShapeError(
          "backward",
          `seed shape ${formatShape(seed.shape)} differs from ${formatShape(root.shape)}`,
        );
      }
    } else if (root.size !== 1) {
      throw new GradError(
        "backward",
        `tensor of shape ${formatShape(root.shape)} is not a scalar: pass a seed gradient`,
      );
    }
    this.noGrad(() => runBackward(engine, root, seed));
  }
}

/** `a + b` of two same-shape f32 gradients (the kernel the `add` op uses for equal shapes). */
function addGrads(engine: Engine, a: Tensor, b: Tensor): Tensor {
  return mapKernel(engine, "add", "a + b", [a, b]);
}

/** Nodes reachable from `root`, inputs before the nodes that consume them. */
function topoOrder(root: Tensor): TapeNode[] {
  const order: TapeNode[] = [];
  const seen = new Set<TapeNode>();
  if (!root.node) return order;
  const stack: [TapeNode, number][] = [[root.node, 0]];
  seen.add(root.node);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1]++;
      const child = node.inputs[i].node;
      if (child && node.inputs[i].requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order;
}

/**
 * Runs the backward sweep (called by `Engine.backward` with recording off). Gradients of
 * intermediate tensors are disposed as soon as their node has consumed them; leaves keep
 * theirs in `.grad`, accumulated across uses and across calls.
 */
function runBackward(engine: Engine, root: Tensor, seed?: Tensor): void {
  const grads = new Map<Tensor, Tensor>();
  const first = seed ? engine.view(seed, root.shape) : engine.full(root.shape, 1);
  const accumulate = (target: Tensor, g: Tensor): void => {
    if (target.node === null) {
      engine.keep(g);
      if (target.grad) {
        const sum = engine.keep(addGrads(engine, target.grad, g));
        target.grad.dispose();
        g.dispose();
        target.grad = sum;
      } else target.grad = g;
      return;
    }
    const existing = grads.get(target);
    if (existing) {
      const sum = addGrads(engine, existing, g);
      existing.dispose();
      g.dispose();
      grads.set(target, sum);
    } else grads.set(target, g);
  };
  accumulate(root, first);
  const order = topoOrder(root);
  for (let n = order.length - 1; n >= 0; n--) {
    const node = order[n];
    const gradOutputs = node.outputs.map((o) => grads.get(o) ?? null);
    if (gradOutputs.every((g) => g === null)) continue;
    for (const o of node.outputs) grads.delete(o);
    const startId = nextTensorId_();
    const gradInputs = engine.scope(() => node.backward(gradOutputs));
    const owned = new Set<Tensor>();
    for (let i = 0; i < node.inputs.length; i++) {
      const input = node.inputs[i];
      const g = gradInputs[i];
      if (!g || !input.requiresGrad) continue;
      if (g.shape.join() !== input.shape.join()) {
        throw new GradError(
          node.op,
          `backward returned a gradient of shape ${formatShape(g.shape)} for input ${i} of ` +
            `shape ${formatShape(input.shape)}`,
        );
      }
      // Each stored gradient must be uniquely owned so it can be disposed independently:
      // a gradient the backward passed through (or returned twice) becomes a view.
      let mine = g;
      if (g.id < startId || owned.has(g)) mine = engine.view(g, g.shape);
      owned.add(g);
      accumulate(input, mine);
    }
    for (const g of gradInputs) {
      if (g && g.id >= startId && !owned.has(g)) g.dispose();
    }
    for (const g of gradOutputs) g?.dispose();
  }
  for (const g of grads.values()) g.dispose();
}
