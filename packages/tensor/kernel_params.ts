/**
 * Kernel parameters declared once by name: one declaration gives the WGSL struct the kernel
 * reads (`params.n`, `params.shape[d]`) and the host-side packing of a dispatch's values
 * into params words, so the two cannot drift apart.
 *
 * @module
 */

import { TensorError } from "./tensor_errors.ts";

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

/** The layout of a {@linkcode ParamDecl}: its WGSL struct and its packing. */
export class ParamLayout {
  readonly #fields: Field[];
  /** Words a dispatch of this layout carries. */
  readonly words: number;

  /**
   * Lays out `decl` in declaration order, one word per scalar or array element.
   *
   * @param decl The declaration.
   * @param key The kernel's key (named in errors).
   * @throws {TensorError} when the declaration exceeds {@linkcode PARAMS_WORDS} words or
   *   a name is not a WGSL identifier.
   */
  constructor(decl: ParamDecl, key: string) {
    let word = 0;
    this.#fields = Object.entries(decl).map(([name, t]) => {
      if (!/^[a-zA-Z][a-zA-Z0-9_]*$/.test(name)) {
        throw new TensorError(key, `param name "${name}" is not a WGSL identifier`);
      }
      const [type, length] = typeof t === "string" ? [t, 0] : [t[0], t[1]];
      const f = { name, type, length, word };
      word += Math.max(1, length);
      return f;
    });
    if (word > PARAMS_WORDS) {
      throw new TensorError(key, `params of ${word} words exceed ${PARAMS_WORDS}`);
    }
    this.words = word;
  }

  /** `struct Params { … }` and the binding-0 variable `params`. */
  wgsl(): string {
    const members = this.#fields.map((f) =>
      `  ${f.name}: ${f.length > 0 ? `array<${f.type}, ${f.length}>` : f.type},`
    );
    if (members.length === 0) members.push("  _unused: u32,");
    return `struct Params {\n${members.join("\n")}\n}\n` +
      "@group(0) @binding(0) var<storage, read> params: Params;\n";
  }

  /**
   * Packs `values` into words (arrays shorter than declared are padded with zeros).
   *
   * @param values One value per declared name.
   * @param op Op named in errors.
   * @returns The words (a view of a fresh buffer).
   * @throws {TensorError} for a missing, unknown or too long value.
   */
  pack(values: Readonly<Record<string, number | ArrayLike<number>>>, op: string): Uint32Array {
    const u = new Uint32Array(this.words);
    const i = new Int32Array(u.buffer);
    const f = new Float32Array(u.buffer);
    for (const field of this.#fields) {
      const v = values[field.name];
      if (v === undefined) throw new TensorError(op, `missing kernel param "${field.name}"`);
      const list = typeof v === "number" ? [v] : v;
      if (field.length === 0 ? typeof v !== "number" : list.length > field.length) {
        throw new TensorError(
          op,
          `kernel param "${field.name}" takes ${
            field.length === 0 ? "a number" : `at most ${field.length} values`
          }, got ${typeof v === "number" ? v : `${list.length} values`}`,
        );
      }
      const dst = field.type === "f32" ? f : field.type === "i32" ? i : u;
      for (let k = 0; k < list.length; k++) dst[field.word + k] = list[k];
    }
    if (Object.keys(values).length > this.#fields.length) {
      const unknown = Object.keys(values).filter((k) => !this.#fields.some((x) => x.name === k));
      throw new TensorError(op, `unknown kernel param(s) ${unknown.join(", ")}`);
    }
    return u;
  }
}
