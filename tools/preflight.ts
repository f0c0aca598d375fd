/**
 * Preflight for the tasks that need WebGPU: finds which backend Deno's default adapter runs
 * on and prefers a Vulkan/Metal/D3D12 one. When the only adapter is the slow OpenGL one, or
 * there is none, on a Debian/Ubuntu machine, it installs Mesa's software Vulkan driver with
 * apt-get (as root or with `sudo -n`), saying so; otherwise it warns (OpenGL) or stops (no
 * adapter) with exact instructions. The decision is {@linkcode planPreflight}.
 *
 * `--plan` prints the probes and the decision and changes nothing. An empty
 * `DENO_WEBGPU_BACKEND` counts as unset, as `requestGpu()` treats it.
 *
 * @module
 */

import { ADAPTER_HELP } from "@vmunet/tensor";
import {
  type BackendProbes,
  BACKENDS,
  planPreflight,
  type PreflightFacts,
  probeBackends,
} from "./webgpu_backend.ts";

async function run(cmd: string[]): Promise<boolean> {
  console.error(`preflight: $ ${cmd.join(" ")}`);
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "inherit",
    stderr: "inherit",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  });
  return (await child.output()).code === 0;
}

async function canRun(cmd: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      stdout: "null",
      stderr: "null",
    }).output();
    return out.code === 0;
  } catch {
    return false;
  }
}

async function facts(): Promise<PreflightFacts> {
  const linux = Deno.build.os === "linux";
  const apt = linux && await canRun(["apt-get", "--version"]);
  const privilege = !apt
    ? "none"
    : Deno.uid() === 0
    ? "root"
    : (await canRun(["sudo", "-n", "true"]))
    ? "sudo"
    : "none";
  // A blank DENO_WEBGPU_BACKEND enables no backend in wgpu; requestGpu() treats it like unset
  // (removes it), so the probes of what the tasks get must not see it either.
  let forcedBackend = Deno.env.get("DENO_WEBGPU_BACKEND");
  if (forcedBackend !== undefined && forcedBackend.trim() === "") {
    Deno.env.delete("DENO_WEBGPU_BACKEND");
    forcedBackend = undefined;
  }
  return { os: Deno.build.os, probes: await probeBackends(), forcedBackend, apt, privilege };
}

function describeProbes(probes: BackendProbes): string {
  return [undefined, ...BACKENDS].map((b) => {
    const a = b ? probes[b] : probes.default;
    return `  ${(b ?? "default").padEnd(8)} ${
      a ? `${a.description} (${a.features.length} features)` : "-"
    }`;
  }).join("\n");
}

async function main(): Promise<number> {
  const planOnly = Deno.args.includes("--plan");
  const found = await facts();
  const plan = planPreflight(found);
  if (planOnly) {
    console.log(
      `${describeProbes(found.probes)}\n  apt ${found.apt}, privilege ${found.privilege}`,
    );
    console.log(`plan: ${plan.action}: ${plan.message}`);
    return 0;
  }
  switch (plan.action) {
    case "ok":
      return 0;
    case "warn":
      console.error(`preflight: WARNING: ${plan.message}`);
      return 0;
    case "fail":
      console.error(`preflight: ${plan.message}${plan.driverHelp ? `\n${ADAPTER_HELP}` : ""}`);
      return 1;
    case "install":
      break;
  }
  console.error(`preflight: ${plan.message}`);
  const sudo = found.privilege === "sudo" ? ["sudo", "-n"] : [];
  const install = [...sudo, "apt-get", "install", "-y", "-q", plan.package];
  if (!(await run(install))) {
    await run([...sudo, "apt-get", "update", "-q"]);
    if (!(await run(install))) {
      console.error(`preflight: apt-get could not install ${plan.package}.\n${ADAPTER_HELP}`);
      return 1;
    }
  }
  const after = planPreflight({ ...found, probes: await probeBackends(), privilege: "none" });
  if (after.action === "ok") {
    console.error(`preflight: ${after.message} Ready.`);
    return 0;
  }
  if (after.action === "warn") {
    console.error(
      `preflight: WARNING: ${plan.package} is installed, but Deno's adapter still runs on ` +
        "OpenGL (about 2.5x slower): the Vulkan loader finds no driver (see `vulkaninfo`, " +
        "VK_ICD_FILENAMES).",
    );
    return 0;
  }
  console.error(`preflight: ${plan.package} is installed but still no adapter.\n${ADAPTER_HELP}`);
  return 1;
}

if (import.meta.main) Deno.exit(await main());
