import assert from "node:assert/strict";
import { requestGpu } from "./device.ts";
import { withSubgroupsDirective } from "@vmunet/wgsl";

Deno.test("GpuContext.subgroupsDirective is what the device's WGSL accepts", async () => {
  const gpu = await requestGpu();
  try {
    gpu.device.pushErrorScope("validation");
    gpu.device.createShaderModule({
      code: "enable subgroups;\n@compute @workgroup_size(1) fn main() {}",
    });
    const accepts = (await gpu.device.popErrorScope()) === null;
    assert.equal(gpu.subgroupsDirective, gpu.subgroups && accepts);
    // The kernel text the engine compiles: with the directive exactly where it is wanted.
    const kernel = "@compute @workgroup_size(8) fn main(@builtin(subgroup_size) s: u32) {}";
    const code = withSubgroupsDirective(kernel, gpu.subgroupsDirective);
    gpu.device.pushErrorScope("validation");
    gpu.device.createShaderModule({ code });
    const error = await gpu.device.popErrorScope();
    if (gpu.subgroups) assert.equal(error, null, error?.message);
  } finally {
    await gpu.close();
  }
});
