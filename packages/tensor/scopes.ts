/**
 * Memory discipline: a stack of scopes, each the set of tensors created while it was the
 * innermost; a scope disposes its tensors when it ends, except those its function returned
 * (which move to the enclosing scope) and those kept.
 *
 * @module
 */

import { Tensor } from "./tensor.ts";

/** The scope stack of one engine. */
export class Scopes {
  #stack: Set<Tensor>[] = [];

  /**
   * Adds `t` to the innermost scope (if any).
   *
   * @param t A new tensor.
   * @returns The same tensor.
   */
  track(t: Tensor): Tensor {
    const top = this.#stack[this.#stack.length - 1];
    if (top) {
      top.add(t);
      t.scope = top;
    }
    return t;
  }

  /** Runs `fn` in a new scope (see `Engine.scope`). */
  scope<T>(fn: () => T): T {
    const s = new Set<Tensor>();
    this.#stack.push(s);
    let result: T;
    try {
      result = fn();
    } catch (error) {
      this.#end(s, undefined);
      throw error;
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => (this.#end(s, value), value),
        (error) => {
          this.#end(s, undefined);
          throw error;
        },
      ) as T;
    }
    this.#end(s, result);
    return result;
  }

  #end(s: Set<Tensor>, result: unknown): void {
    const i = this.#stack.lastIndexOf(s);
    if (i >= 0) this.#stack.splice(i, 1);
    const parent = this.#stack[this.#stack.length - 1];
    const kept = new Set<Tensor>();
    collectTensors(result, kept, 0);
    for (const t of [...s]) {
      if (kept.has(t)) {
        t.scope = parent ?? null;
        parent?.add(t);
      } else t.dispose();
    }
  }

  /** Removes `t` from every scope (see `Engine.keep`). */
  keep(t: Tensor): Tensor {
    t.scope?.delete(t);
    t.scope = null;
    return t;
  }
}

function collectTensors(value: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 4 || value === null || typeof value !== "object") return;
  if (value instanceof Tensor) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, depth + 1);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out, depth + 1);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, out, depth + 1);
  }
}
