/**
 * `deno task doctor`: what this machine's WebGPU offers and on which backend (a warning when
 * it is the slow OpenGL one), a short self-test checked against the CPU, and a one-line speed
 * calibration (engine matmul and a plain-JS loop, with the CPU's name). Exit code 0 only if
 * everything works.
 *
 * @module
 */

import { Engine, GpuError, requestGpu } from "@vmunet/tensor";
import { runSelfTest } from "@vmunet/tensor/kernels";
import { calibrate, cpuName, formatCalibration } from "./calibration.ts";
import { backendOf, BACKENDS, probeBackends, VULKAN_PACKAGE } from "./webgpu_backend.ts";

/** The backend line: which wgpu backend Deno's adapter runs on, and a warning for OpenGL. */
async function backendLine(): Promise<string> {
  const probes = await probeBackends();
  const backend = backendOf(probes);
  const others = BACKENDS.filter((b) => probes[b] && b !== backend);
  const also = others.length ? ` (also available: ${others.join(", ")})` : "";
  if (backend !== "gl") return `backend     ${backend ?? "unknown (no probe matched)"}${also}`;
  return `backend     gl${also}\n            WARNING: OpenGL backend: no shader-f16, no subgroups, about ` +
    "2.5x slower than Vulkan on the same CPU. Install Mesa's Vulkan driver " +
    `(\`sudo apt-get install ${VULKAN_PACKAGE}\`) or unset DENO_WEBGPU_BACKEND.`;
}

const USAGE = `deno task doctor

What this machine's WebGPU offers (adapter, backend: a warning for the slow OpenGL one,
features, limits), a short self-test checked against the CPU, and a one-line calibration
(engine matmul and a plain-JS loop, with the CPU's name) to place this machine beside the
figures in BENCHMARKS.md. Exit code 0 only if everything works.

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
  console.log(`cpu         ${cpuName()}`);
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
  console.log(await backendLine());
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
  const engine = result.ok ? new Engine(gpu) : undefined;
  if (engine) console.log(`calibration ${formatCalibration(await calibrate(engine))}`);
  gpu.throwIfFailed();
  await (engine ? engine.close() : gpu.close());
  console.log(result.ok ? "doctor      ok" : "doctor      FAILED");
  return result.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
