import { runVmunetFixture } from "../tools/golden/vmunet.ts";
const limits = JSON.parse(Deno.args[0]);
for (const adapterClass of ["auto", "gpu"] as const) {
  try {
    const r = await runVmunetFixture("../shared/golden/vmunet_t16_bin.case.safetensors", { adapterClass, requiredLimits: limits });
    console.log(adapterClass, r.ok, r.comparisons.filter((c) => !c.ok).map((c) => c.name).slice(0, 5));
  } catch (e) { console.log(adapterClass, "threw", String(e).slice(0, 600)); }
}
