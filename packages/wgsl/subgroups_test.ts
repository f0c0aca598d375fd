import assert from "node:assert/strict";
import { knownSubgroupsDirective, probeSubgroupsDirective, withSubgroupsDirective } from "./mod.ts";

/** Whether `enable subgroups;` compiles on the device, asked directly. */
async function directiveCompiles(d: GPUDevice): Promise<boolean> {
  d.pushErrorScope("validation");
  d.createShaderModule({ code: "enable subgroups;\n@compute @workgroup_size(1) fn main() {}" });
  return (await d.popErrorScope()) === null;
}

Deno.test("probeSubgroupsDirective() answers what the device's WGSL accepts, once per device", async () => {
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter!.requestDevice({
    requiredFeatures: ["subgroups" as GPUFeatureName],
  });
  try {
    const want = await directiveCompiles(device);
    assert.equal(knownSubgroupsDirective(device), undefined);
    assert.equal(await probeSubgroupsDirective(device), want);
    assert.equal(knownSubgroupsDirective(device), want);
  } finally {
    device.destroy();
  }
  // Without the "subgroups" feature the directive is never wanted.
  const plain = await adapter!.requestDevice();
  try {
    assert.equal(knownSubgroupsDirective(plain), undefined);
    assert.equal(await probeSubgroupsDirective(plain), false);
  } finally {
    plain.destroy();
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
