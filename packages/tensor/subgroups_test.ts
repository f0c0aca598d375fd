import assert from "node:assert/strict";
import { requestGpu } from "./device.ts";
import { withSubgroupsDirective } from "./_subgroups.ts";

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

Deno.test("withSubgroupsDirective() adds the directive only to code that uses subgroup builtins", () => {
  const uses = [
    "let s = subgroupAdd(x);",
    "fn main(@builtin(subgroup_invocation_id) lane: u32) {}",
    "fn main(@builtin(subgroup_size) n: u32) {}",
    "let y = subgroupShuffleXor(v, 1u);",
    "let q = quadBroadcast(v, 0u);",
  ];
  for (const code of uses) {
    assert.equal(withSubgroupsDirective(code, true), `enable subgroups;\n${code}`);
    assert.equal(withSubgroupsDirective(code, false), code);
  }
  for (const code of ["let subgroupish = 1;", "// no subgroups here", "let x = sub(a);"]) {
    assert.equal(withSubgroupsDirective(code, true), code);
  }
});
