/**
 * The kernel cache: compiles WGSL once per key, prepending the WGSL prelude (the params
 * binding and its accessors, then the storage bindings), and shares bind group layouts
 * between kernels with the same binding access pattern.
 *
 * @module
 */

import { type ParamDecl, ParamLayout, withSubgroupsDirective } from "@vmunet/wgsl";

/** Access mode of a storage binding of a kernel. */
export type BindingAccess = "read" | "read_write";

/** One storage buffer a kernel binds (bindings 1, 2, … in order; binding 0 is the params). */
export interface KernelBinding {
  /** The WGSL variable name. */
  name: string;
  /** `"read"` for inputs (default), `"read_write"` for outputs. */
  access?: BindingAccess;
  /** WGSL type of the variable (default `array<f32>`), e.g. `array<vec4<f32>>`, `array<i32>`. */
  type?: string;
}

/** What {@linkcode KernelCache.kernel} compiles. */
export interface KernelSpec<P extends ParamDecl = ParamDecl> {
  /** Cache key: the same key always means the same WGSL (compiled once). */
  key: string;
  /**
   * The kernel's parameters by name, in word order (see {@linkcode ParamDecl}): the code
   * reads them as `params.name`, and dispatches pass `{ name: value }`. Without it the code
   * reads positional words through `pu(i)`, `pi(i)`, `pf(i)`.
   */
  params?: P;
  /** Storage buffers, bound at bindings 1…n of group 0 in this order. */
  bindings: readonly KernelBinding[];
  /**
   * WGSL source with an `@compute fn main`. The engine prepends the params (`params.name`
   * for declared params, else the accessors `pu(i) -> u32`, `pi(i) -> i32`, `pf(i) -> f32`
   * of word `i`, at most `PARAMS_WORDS` (of `@vmunet/wgsl`) words), the binding declarations and
   * `lin(gid, nwg, wg) -> u32` (linear invocation index of a `grid1d` dispatch).
   */
  code: string;
}

/** A compiled kernel (pipeline plus its bind group layout), cached by key. */
export interface Kernel<P extends ParamDecl = ParamDecl> {
  /** The cache key. */
  readonly key: string;
  /** The compute pipeline (entry point `main`). */
  readonly pipeline: GPUComputePipeline;
  /** Layout of group 0: params at binding 0, then the storage bindings. */
  readonly layout: GPUBindGroupLayout;
  /** Access of bindings 1…n (also the layout's key). */
  readonly access: readonly BindingAccess[];
  /** The layout of the declared params (absent for positional params). */
  readonly params?: ParamLayout;
  /** Type-level tag of the declaration (never set). */
  readonly _decl?: P;
}

/** Bytes of one params slot (the dynamic-offset alignment WebGPU guarantees). */
export const SLOT_BYTES = 256;

/** The WGSL every kernel gets before its own code: params accessors and bindings. */
function prelude(bindings: readonly KernelBinding[], params?: ParamLayout): string {
  const lines = params ? [params.wgsl()] : [
    "@group(0) @binding(0) var<storage, read> _params: array<u32>;",
    "fn pu(i: u32) -> u32 { return _params[i]; }",
    "fn pi(i: u32) -> i32 { return bitcast<i32>(_params[i]); }",
    "fn pf(i: u32) -> f32 { return bitcast<f32>(_params[i]); }",
  ];
  lines.push(
    "fn lin(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 { return gid.x + gid.y * nwg.x * wg; }",
  );
  bindings.forEach((b, i) => {
    const access = b.access === "read_write" ? "read_write" : "read";
    lines.push(
      `@group(0) @binding(${i + 1}) var<storage, ${access}> ${b.name}: ${b.type ?? "array<f32>"};`,
    );
  });
  return lines.join("\n") + "\n";
}

/** Compiled kernels by key, and bind group layouts by access pattern, of one device. */
export class KernelCache {
  readonly #device: GPUDevice;
  readonly #subgroupsDirective: boolean;
  #kernels = new Map<string, Kernel>();
  #layouts = new Map<string, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();

  /**
   * A cache for kernels of `device`; `subgroupsDirective` (`GpuContext.subgroupsDirective`)
   * puts `enable subgroups;` on top of every kernel that uses subgroup builtins.
   */
  constructor(device: GPUDevice, subgroupsDirective = false) {
    this.#device = device;
    this.#subgroupsDirective = subgroupsDirective;
  }

  /** Compiled pipelines so far. */
  get size(): number {
    return this.#kernels.size;
  }

  /**
   * The kernel of `key`, compiling `build()` on the first request only.
   *
   * @param key The cache key.
   * @param build Returns the kernel's bindings and code (its `key` field, if any, is ignored).
   * @returns The compiled kernel.
   */
  kernel<P extends ParamDecl>(key: string, build: () => Omit<KernelSpec<P>, "key">): Kernel<P> {
    const hit = this.#kernels.get(key);
    if (hit) return hit as Kernel<P>;
    const s = build();
    const access = s.bindings.map((b) => b.access ?? "read");
    const { bgl, pl } = this.#layout(access);
    const params = s.params ? new ParamLayout(s.params, key) : undefined;
    const module = this.#device.createShaderModule({
      code: withSubgroupsDirective(prelude(s.bindings, params) + s.code, this.#subgroupsDirective),
      label: key,
    });
    const pipeline = this.#device.createComputePipeline({
      layout: pl,
      compute: { module, entryPoint: "main" },
      label: key,
    });
    const kernel: Kernel<P> = { key, pipeline, layout: bgl, access, params };
    this.#kernels.set(key, kernel);
    return kernel;
  }

  #layout(access: readonly BindingAccess[]): { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout } {
    const key = access.map((a) => (a === "read" ? "r" : "w")).join("");
    let hit = this.#layouts.get(key);
    if (!hit) {
      const entries: GPUBindGroupLayoutEntry[] = [{
        binding: 0,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: "read-only-storage", hasDynamicOffset: true, minBindingSize: SLOT_BYTES },
      }];
      access.forEach((a, i) =>
        entries.push({
          binding: i + 1,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: a === "read" ? "read-only-storage" : "storage" },
        })
      );
      const bgl = this.#device.createBindGroupLayout({ entries, label: `layout-${key}` });
      hit = { bgl, pl: this.#device.createPipelineLayout({ bindGroupLayouts: [bgl] }) };
      this.#layouts.set(key, hit);
    }
    return hit;
  }
}
