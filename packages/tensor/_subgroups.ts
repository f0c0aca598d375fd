/**
 * The `enable subgroups;` directive: the WGSL specification (and Chrome) require it before
 * subgroup builtins, Deno's wgpu refuses it with a parse error. Which one a device wants is
 * probed once, when the device is acquired (`GpuContext.subgroupsDirective`).
 *
 * @module
 */

/** Subgroup builtins and functions: a kernel that names one needs the directive. */
const SUBGROUP_USE =
  /\bsubgroup[A-Z]\w*\s*\(|\bsubgroup_(?:invocation_id|size)\b|\bquad[A-Z]\w*\s*\(/;

/**
 * Whether `device` accepts a module that starts with `enable subgroups;` (false without the
 * `subgroups` feature).
 */
export async function probeSubgroupsDirective(device: GPUDevice): Promise<boolean> {
  if (!device.features.has("subgroups")) return false;
  device.pushErrorScope("validation");
  const module = device.createShaderModule({
    label: "enable subgroups probe",
    code: "enable subgroups;\n@compute @workgroup_size(1) fn main() {}",
  });
  const messages = (await module.getCompilationInfo()).messages;
  return (await device.popErrorScope()) === null && !messages.some((m) => m.type === "error");
}

/**
 * `code` with `enable subgroups;` in front when the device wants the directive and the code
 * uses subgroup builtins.
 */
export function withSubgroupsDirective(code: string, directive: boolean): string {
  return directive && SUBGROUP_USE.test(code) ? `enable subgroups;\n${code}` : code;
}
