/**
 * Kernel parameters declared once by name: one declaration gives the WGSL struct the kernel
 * reads (`params.n`, `params.shape[d]`) and the host-side packing of a dispatch's values
 * into params words, so the two cannot drift apart.
 *
 * @module
 */

import { KernelParamError } from "./errors.ts";

/** WGSL scalar type of a kernel parameter (each takes one 32-bit word). */
export type ParamType = "u32" | "i32" | "f32";

/**
 * A kernel's parameters, in word order: name → scalar type, or `[type, length]` for a
 * fixed-length array (read as `params.name[i]`).
 */
export type ParamDecl = Readonly<Record<string, ParamType | readonly [ParamType, number]>>;

/** The value of one declared param: a number for a scalar, a list for an array. */
export type ParamValue<T> = T extends ParamType ? number : ArrayLike<number>;

/** The values of a dispatch for declaration `D`: a number per scalar, a list per array. */
export type ParamValues<D extends ParamDecl> = {
  readonly [K in keyof D]: ParamValue<D[K]>;
};

/** Words of params one dispatch may carry (one 256-byte slot). */
export const PARAMS_WORDS = 64;

interface Field {
  name: string;
  type: ParamType;
  length: number;
  word: number;
}

/** Where {@linkcode ParamLayout.wgsl} binds the params variable. */
export interface ParamBinding {
  /** Binding index in group 0 (default 0). */
  binding?: number;
  /** Address space: `storage` (read-only, the default) or `uniform` (scalars only). */
  space?: "storage" | "uniform";
}

/**
 * The layout of a {@linkcode ParamDecl}: its WGSL struct and its packing.
 *
 * @example
 * ```ts
 * import { ParamLayout } from "@vmunet/wgsl";
 * const layout = new ParamLayout({ n: "u32", scale: "f32", pick: ["u32", 2] }, "example.scale");
 * if (layout.words !== 4) throw new Error(`words ${layout.words}`);
 * const words = layout.pack({ n: 6, scale: 0.5, pick: [3] });
 * const floats = new Float32Array(words.buffer);
 * if (words[0] !== 6 || floats[1] !== 0.5 || words[2] !== 3 || words[3] !== 0) {
 *   throw new Error(`packed ${words}`);
 * }
 * if (!layout.wgsl().includes("var<storage, read> params: Params;")) throw new Error("wgsl");
 * const uniform = new ParamLayout({ direction: "u32" }, "example.dir").wgsl({
 *   binding: 9,
 *   space: "uniform",
 * });
 * if (!uniform.includes("@group(0) @binding(9) var<uniform> params: Params;")) {
 *   throw new Error(uniform);
 * }
 * ```
 */
export class ParamLayout {
  readonly #fields: Field[];
  readonly #key: string;
  /** Words a dispatch of this layout carries. */
  readonly words: number;

  /**
   * Lays out `decl` in declaration order, one word per scalar or array element.
   *
   * @param decl The declaration.
   * @param key The kernel's key (named in errors).
   * @throws {KernelParamError} when the declaration exceeds {@linkcode PARAMS_WORDS} words
   *   or a name is not a WGSL identifier.
   */
  constructor(decl: ParamDecl, key: string) {
    this.#key = key;
    let word = 0;
    this.#fields = Object.entries(decl).map(([name, t]) => {
      if (!/^[a-zA-Z][a-zA-Z0-9_]*$/.test(name)) {
        throw new KernelParamError(key, `param name "${name}" is not a WGSL identifier`, name);
      }
      const [type, length] = typeof t === "string" ? [t, 0] : [t[0], t[1]];
      const f = { name, type, length, word };
      word += Math.max(1, length);
      return f;
    });
    if (word > PARAMS_WORDS) {
      throw new KernelParamError(key, `params of ${word} words exceed ${PARAMS_WORDS}`);
    }
    this.words = word;
  }

  /**
   * `struct Params { … }` and the variable `params` bound at `at` (default: binding 0,
   * read-only storage).
   *
   * @param at Binding index and address space.
   * @returns The WGSL declarations.
   * @throws {KernelParamError} for an array param in the uniform address space (uniform
   *   arrays have a 16-byte stride, the packing one word per element).
   */
  wgsl(at: ParamBinding = {}): string {
    const { binding = 0, space = "storage" } = at;
    const array = this.#fields.find((f) => f.length > 0);
    if (space === "uniform" && array) {
      throw new KernelParamError(
        this.#key,
        `kernel param "${array.name}" is an array, which a uniform cannot hold packed`,
        array.name,
      );
    }
    const members = this.#fields.map((f) =>
      `  ${f.name}: ${f.length > 0 ? `array<${f.type}, ${f.length}>` : f.type},`
    );
    if (members.length === 0) members.push("  _unused: u32,");
    return `struct Params {\n${members.join("\n")}\n}\n` +
      `@group(0) @binding(${binding}) var<${
        space === "uniform" ? "uniform" : "storage, read"
      }> params: Params;\n`;
  }

  /**
   * Packs `values` into words (arrays shorter than declared are padded with zeros).
   *
   * @param values One value per declared name.
   * @param op Op named in errors (default: the kernel's key).
   * @returns The words (a view of a fresh buffer).
   * @throws {KernelParamError} for a missing, unknown or too long value.
   */
  pack(
    values: Readonly<Record<string, number | ArrayLike<number>>>,
    op: string = this.#key,
  ): Uint32Array {
    const u = new Uint32Array(this.words);
    const i = new Int32Array(u.buffer);
    const f = new Float32Array(u.buffer);
    for (const field of this.#fields) {
      const v = values[field.name];
      if (v === undefined) {
        throw new KernelParamError(op, `missing kernel param "${field.name}"`, field.name);
      }
      const list = typeof v === "number" ? [v] : v;
      if (field.length === 0 ? typeof v !== "number" : list.length > field.length) {
        throw new KernelParamError(
          op,
          `kernel param "${field.name}" takes ${
            field.length === 0 ? "a number" : `at most ${field.length} values`
          }, got ${typeof v === "number" ? v : `${list.length} values`}`,
          field.name,
        );
      }
      const dst = field.type === "f32" ? f : field.type === "i32" ? i : u;
      for (let k = 0; k < list.length; k++) dst[field.word + k] = list[k];
    }
    if (Object.keys(values).length > this.#fields.length) {
      const unknown = Object.keys(values).filter((k) => !this.#fields.some((x) => x.name === k));
      throw new KernelParamError(op, `unknown kernel param(s) ${unknown.join(", ")}`, unknown[0]);
    }
    return u;
  }
}
