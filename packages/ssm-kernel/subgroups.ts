/**
 * Whether this device's WGSL wants `enable subgroups;` before subgroup builtins: the WGSL
 * specification (and Chrome) require the directive, while Deno's wgpu refuses it with a parse
 * error. Decided by compiling a tiny module on the device, once per device.
 *
 * @module
 */

const PROBE_WGSL = `enable subgroups;
@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(1) fn main(@builtin(subgroup_size) s: u32) { o[0] = subgroupAdd(s); }`;

const probed = new WeakMap<GPUDevice, boolean>();

/**
 * Compiles a module that starts with `enable subgroups;` on `device` and reports whether the
 * device accepted it (false without the `subgroups` feature). The answer is cached per device
 * and used by `SelectiveScan` and `CrossScan2d` when their option
 * `subgroupsDirective` is not given: await it once before creating scans with
 * `subgroups: true` in a browser.
 *
 * @example
 * ```ts
 * import { probeSubgroupsDirective } from "@vmunet/ssm-kernel";
 * const adapter = await navigator.gpu.requestAdapter();
 * const device = await adapter!.requestDevice();
 * // No "subgroups" feature: never needed.
 * if (await probeSubgroupsDirective(device)) throw new Error("no subgroups, no directive");
 * device.destroy();
 * ```
 *
 * @param device The device the scans run on.
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
    })
      .getCompilationInfo();
    const refused = await device.popErrorScope();
    accepted = refused === null && !info.messages.some((m) => m.type === "error");
  }
  probed.set(device, accepted);
  return accepted;
}

/** The cached answer of {@linkcode probeSubgroupsDirective} for `device`, if it ran. */
export function knownSubgroupsDirective(device: GPUDevice): boolean | undefined {
  return probed.get(device);
}
