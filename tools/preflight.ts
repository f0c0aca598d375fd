/**
 * Preflight for the tasks that need WebGPU: when no adapter is found on a Debian/Ubuntu
 * machine, install Mesa's software Vulkan driver with apt-get (as root or with `sudo -n`),
 * saying so; otherwise stop with exact instructions.
 *
 * @module
 */

import { ADAPTER_HELP } from "@vmunet/tensor";

const PACKAGE = "mesa-vulkan-drivers";

/** Whether a fresh process (so that the Vulkan loader rescans drivers) finds an adapter. */
async function adapterInFreshProcess(): Promise<boolean> {
  const probe = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "const a = await navigator.gpu?.requestAdapter(); Deno.exit(a ? 0 : 3);",
    ],
    stdout: "null",
    stderr: "null",
  });
  return (await probe.output()).code === 0;
}

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
    })
      .output();
    return out.code === 0;
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  if (await adapterInFreshProcess()) return 0;
  if (Deno.build.os !== "linux" || !(await canRun(["apt-get", "--version"]))) {
    console.error(`preflight: ${ADAPTER_HELP}`);
    return 1;
  }
  const isRoot = Deno.uid() === 0;
  const sudo = isRoot ? [] : (await canRun(["sudo", "-n", "true"])) ? ["sudo", "-n"] : undefined;
  if (!sudo) {
    console.error(
      `preflight: no WebGPU adapter, and installing ${PACKAGE} needs root (sudo asks for a password).\n${ADAPTER_HELP}`,
    );
    return 1;
  }
  console.error(
    `preflight: no WebGPU adapter found; installing Mesa's software Vulkan driver (${PACKAGE}).`,
  );
  if (!(await run([...sudo, "apt-get", "install", "-y", "-q", PACKAGE]))) {
    await run([...sudo, "apt-get", "update", "-q"]);
    if (!(await run([...sudo, "apt-get", "install", "-y", "-q", PACKAGE]))) {
      console.error(`preflight: apt-get could not install ${PACKAGE}.\n${ADAPTER_HELP}`);
      return 1;
    }
  }
  if (await adapterInFreshProcess()) {
    console.error("preflight: software WebGPU adapter ready.");
    return 0;
  }
  console.error(`preflight: ${PACKAGE} is installed but still no adapter.\n${ADAPTER_HELP}`);
  return 1;
}

if (import.meta.main) Deno.exit(await main());
