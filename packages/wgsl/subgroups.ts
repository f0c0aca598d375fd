/**
 * The `enable subgroups;` directive: the WGSL specification (and Chrome) require it before
 * subgroup builtins, Deno's wgpu refuses it with a parse error. Which one a device wants is
 * decided by compiling a tiny module on the device, once per device; kernels then prepend the
 * directive where it is wanted ({@linkcode withSubgroupsDirective}).
 *
 * @module
 */

/** Subgroup builtins and functions: a kernel that names one needs the directive. */
const SUBGROUP_USE =
  /\bsubgroup[A-Z]\w*\s*\(|\bsubgroup_(?:invocation_id|size)\b|\bquad[A-Z]\w*\s*\(/;

const PROBE_WGSL = `enable subgroups;
@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(1) fn main(@builtin(subgroup_size) s: u32) { o[0] = subgroupAdd(s); }`;

const probed = new WeakMap<GPUDevice, boolean>();

/**
 * Compiles a module that starts with `enable subgroups;` and uses subgroup builtins on
 * `device` and reports whether the device accepted it (false without the `subgroups`
 * feature). The answer is cached per device ({@linkcode knownSubgroupsDirective}).
 *
 * @example
 * ```ts
 * import { knownSubgroupsDirective, probeSubgroupsDirective } from "@vmunet/wgsl";
 * const adapter = await navigator.gpu.requestAdapter();
 * const device = await adapter!.requestDevice();
 * // No "subgroups" feature: never needed.
 * if (await probeSubgroupsDirective(device)) throw new Error("no subgroups, no directive");
 * if (knownSubgroupsDirective(device) !== false) throw new Error("the answer is cached");
 * device.destroy();
 * ```
 *
 * @param device The device the kernels run on.
 * @returns Whether WGSL using subgroup builtins must start with `enable subgroups;`.
 */
export async function probeSubgroupsDirective(device: GPUDevice): Promise<boolean> {
  let accepted = probed.get(device);
  if (accepted !== undefined) return accepted;
  accepted = false;
  if (device.features.has("subgroups")) {
    device.pushErrorScope("validation");
    const info = await device.createShaderModule({
      label: "enable subgroups probe",
      code: PROBE_WGSL,
    }).getCompilationInfo();
    const refused = await device.popErrorScope();
    accepted = refused === null && !info.messages.some((m) => m.type === "error");
  }
  probed.set(device, accepted);
  return accepted;
}

/**
 * The cached answer of {@linkcode probeSubgroupsDirective} for `device`, if it ran.
 *
 * @param device The device.
 * @returns The answer, or `undefined` when the probe has not run on this device.
 */
export function knownSubgroupsDirective(device: GPUDevice): boolean | undefined {
  return probed.get(device);
}

/**
 * `code` with `enable subgroups;` in front when the device wants the directive and the code
 * uses subgroup builtins.
 *
 * @example
 * ```ts
 * import { withSubgroupsDirective } from "@vmunet/wgsl";
 * const code = "let s = subgroupAdd(x);";
 * if (withSubgroupsDirective(code, true) !== `enable subgroups;\n${code}`) throw new Error("on");
 * if (withSubgroupsDirective(code, false) !== code) throw new Error("off");
 * if (withSubgroupsDirective("let x = 1;", true) !== "let x = 1;") throw new Error("unused");
 * ```
 *
 * @param code WGSL source.
 * @param directive Whether the device wants the directive.
 * @returns The source to compile.
 */
export function withSubgroupsDirective(code: string, directive: boolean): string {
  return directive && SUBGROUP_USE.test(code) ? `enable subgroups;\n${code}` : code;
}
