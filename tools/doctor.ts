/**
 * `deno task doctor`: what this machine's WebGPU offers, and a short self-test checked
 * against the CPU. Exit code 0 only if everything works.
 *
 * @module
 */

import { GpuError, requestGpu } from "@vmunet/tensor";
import { runSelfTest } from "@vmunet/tensor/kernels";

const USAGE = `deno task doctor

What this machine's WebGPU offers (adapter, features, limits) and a short self-test checked
against the CPU. Exit code 0 only if everything works.

  -h, --help    this text`;

async function main(): Promise<number> {
  if (Deno.args.length > 0) {
    if (Deno.args.length === 1 && ["--help", "-h"].includes(Deno.args[0])) {
      console.log(USAGE);
      return 0;
    }
    console.error(
      `doctor: unexpected argument "${Deno.args[0]}"; doctor takes no flags (see --help)`,
    );
    return 2;
  }
  console.log(`deno        ${Deno.version.deno} (v8 ${Deno.version.v8}, ${Deno.build.target})`);
  let gpu;
  try {
    gpu = await requestGpu();
  } catch (error) {
    console.error(error instanceof GpuError ? error.message : String(error));
    return 1;
  }
  const info = gpu.adapterInfo;
  console.log(`adapter     ${info.description || "(no description)"}`);
  console.log(
    `            vendor ${info.vendor || "-"}, device ${info.device || "-"}, architecture ${
      info.architecture || "-"
    }`,
  );
  console.log(`fallback    ${info.isFallbackAdapter} (isFallbackAdapter)`);
  console.log(
    `subgroups   ${gpu.subgroups ? "enabled" : "off"}${
      info.subgroupMinSize ? ` (size ${info.subgroupMinSize}..${info.subgroupMaxSize})` : ""
    }`,
  );
  console.log(`features    ${[...gpu.features].sort().join(", ")}`);
  console.log("limits");
  for (const [key, value] of Object.entries(gpu.limits).sort()) {
    console.log(`  ${key.padEnd(44)} ${value}`);
  }
  const result = await runSelfTest(gpu.device, { size: 128, subgroups: gpu.subgroups });
  console.log(
    `self-test   matmul ${result.size}³ max |gpu-cpu| ${result.maxAbsError.toExponential(2)} ` +
      `(tolerance ${result.tolerance.toExponential(1)})` +
      (result.subgroupsOk === undefined
        ? ""
        : `, subgroupAdd ${result.subgroupsOk ? "ok" : "WRONG"}`) +
      `, ${result.milliseconds.toFixed(0)} ms`,
  );
  gpu.throwIfFailed();
  await gpu.close();
  console.log(result.ok ? "doctor      ok" : "doctor      FAILED");
  return result.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
