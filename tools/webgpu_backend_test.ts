import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type AdapterSummary,
  backendOf,
  planPreflight,
  type PreflightFacts,
  probeBackends,
  VULKAN_PACKAGE,
} from "./webgpu_backend.ts";

// What Deno 2.9.6 reports for llvmpipe (Mesa 22.3.6) on each backend (measured here).
const CPU = { vendor: "65541", device: "0", architecture: "", isFallbackAdapter: true };
const LAVAPIPE: AdapterSummary = {
  ...CPU,
  description: "llvmpipe (LLVM 15.0.6, 256 bits)",
  subgroupMinSize: 8,
  subgroupMaxSize: 8,
  features: ["shader-f16", "timestamp-query"],
};
const LLVMPIPE_GL: AdapterSummary = {
  ...CPU,
  description: "llvmpipe (LLVM 15.0.6, 256 bits)",
  subgroupMinSize: 4,
  subgroupMaxSize: 128,
  features: ["timestamp-query"],
};
const METAL: AdapterSummary = {
  description: "Apple M2",
  vendor: "apple",
  device: "0",
  architecture: "",
  isFallbackAdapter: false,
  features: ["shader-f16"],
};

const debianRoot = (probes: PreflightFacts["probes"]): PreflightFacts => ({
  os: "linux",
  probes,
  apt: true,
  privilege: "root",
});

Deno.test("backendOf() matches the default adapter to the probe that found the same one", () => {
  assert.equal(backendOf({ default: LAVAPIPE, vulkan: LAVAPIPE, gl: LLVMPIPE_GL }), "vulkan");
  assert.equal(backendOf({ default: LLVMPIPE_GL, vulkan: LAVAPIPE, gl: LLVMPIPE_GL }), "gl");
  assert.equal(backendOf({ default: LLVMPIPE_GL, gl: LLVMPIPE_GL }), "gl");
  assert.equal(backendOf({ default: METAL, metal: METAL }), "metal");
  // Identical reports on two backends: the native one, as wgpu prefers it.
  assert.equal(backendOf({ default: LAVAPIPE, vulkan: LAVAPIPE, gl: LAVAPIPE }), "vulkan");
  assert.equal(backendOf({ vulkan: LAVAPIPE }), undefined);
  assert.equal(backendOf({ default: METAL, vulkan: LAVAPIPE }), undefined);
});

Deno.test("a native adapter by default: the preflight goes on and installs nothing", () => {
  for (const privilege of ["root", "sudo", "none"] as const) {
    const plan = planPreflight({
      ...debianRoot({ default: LAVAPIPE, vulkan: LAVAPIPE, gl: LLVMPIPE_GL }),
      privilege,
    });
    assert.equal(plan.action, "ok");
    assert.equal(plan.action === "ok" && plan.backend, "vulkan");
  }
  assert.equal(
    planPreflight({ ...debianRoot({ default: METAL, metal: METAL }), os: "darwin" })
      .action,
    "ok",
  );
});

Deno.test("only OpenGL on Debian as root or with sudo: install mesa-vulkan-drivers", () => {
  for (const privilege of ["root", "sudo"] as const) {
    const plan = planPreflight({
      ...debianRoot({ default: LLVMPIPE_GL, gl: LLVMPIPE_GL }),
      privilege,
    });
    assert.equal(plan.action, "install");
    assert.equal(plan.action === "install" && plan.package, VULKAN_PACKAGE);
    assert.match(plan.message, /OpenGL/);
  }
});

Deno.test("only OpenGL and no way to install: warn, naming the package and root", () => {
  const noRoot = planPreflight({
    ...debianRoot({ default: LLVMPIPE_GL, gl: LLVMPIPE_GL }),
    privilege: "none",
  });
  assert.equal(noRoot.action, "warn");
  assert.match(noRoot.message, /OpenGL.*sudo apt-get install mesa-vulkan-drivers.*needs root/s);
  const noApt = planPreflight({
    ...debianRoot({ default: LLVMPIPE_GL, gl: LLVMPIPE_GL }),
    apt: false,
  });
  assert.equal(noApt.action, "warn");
  assert.match(noApt.message, /dnf install mesa-vulkan-drivers/);
  const mac = planPreflight({
    ...debianRoot({ default: LLVMPIPE_GL, gl: LLVMPIPE_GL }),
    os: "darwin",
  });
  assert.equal(mac.action, "warn");
  assert.match(mac.message, /Metal/);
});

Deno.test("DENO_WEBGPU_BACKEND is respected: no install, but a warning or a clear failure", () => {
  const forcedGl = planPreflight({
    ...debianRoot({ default: LLVMPIPE_GL, vulkan: LAVAPIPE, gl: LLVMPIPE_GL }),
    forcedBackend: "gl",
  });
  assert.equal(forcedGl.action, "warn");
  assert.match(forcedGl.message, /DENO_WEBGPU_BACKEND=gl chose it; unset it to use vulkan/);
  const glOnly = planPreflight({
    ...debianRoot({ default: LLVMPIPE_GL, gl: LLVMPIPE_GL }),
    forcedBackend: "gl",
  });
  assert.equal(glOnly.action, "warn");
  const forcedMissing = planPreflight({
    ...debianRoot({ vulkan: LAVAPIPE, gl: LLVMPIPE_GL }),
    forcedBackend: "metal",
  });
  assert.equal(forcedMissing.action, "fail");
  assert.match(
    forcedMissing.message,
    /DENO_WEBGPU_BACKEND=metal finds no WebGPU adapter, but vulkan has one: unset DENO_WEBGPU_BACKEND \(it takes a comma-separated list of vulkan, metal, dx12, gl\)/,
  );
  assert.equal(forcedMissing.action === "fail" && forcedMissing.driverHelp, false); // no driver advice
});

Deno.test("the preflight treats an empty DENO_WEBGPU_BACKEND like unset (as requestGpu() does)", async () => {
  const preflight = fileURLToPath(new URL("./preflight.ts", import.meta.url));
  const plan = async (env: Record<string, string>) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", preflight, "--plan"],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  };
  const unset = await plan({});
  const empty = await plan({ DENO_WEBGPU_BACKEND: "" });
  assert.match(empty, /^ {2}default {2}\S/m, empty); // the default probe finds the adapter
  assert.doesNotMatch(empty, /DENO_WEBGPU_BACKEND/, empty);
  assert.equal(empty, unset);
});

Deno.test("no adapter at all: install when possible, otherwise fail saying why", () => {
  assert.equal(planPreflight(debianRoot({})).action, "install");
  assert.equal(planPreflight({ ...debianRoot({}), privilege: "sudo" }).action, "install");
  const noRoot = planPreflight({ ...debianRoot({}), privilege: "none" });
  assert.equal(noRoot.action, "fail");
  assert.match(noRoot.message, /needs root/);
  assert.equal(noRoot.action === "fail" && noRoot.driverHelp, true);
  assert.equal(planPreflight({ ...debianRoot({}), os: "windows", apt: false }).action, "fail");
});

Deno.test("on this machine the probes name the default adapter's backend, OpenGL forced or not", async () => {
  const probes = await probeBackends();
  assert(probes.default, "the test suite needs a WebGPU adapter");
  const backend = backendOf(probes);
  assert(
    backend !== undefined,
    `no probe matches the default adapter ${probes.default.description}`,
  );
  if (backend !== "gl") {
    assert.equal(planPreflight(debianRoot(probes)).action, "ok");
  }
  // The same machine forced onto OpenGL, through the real preflight (--plan changes nothing).
  const preflight = fileURLToPath(new URL("./preflight.ts", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", preflight, "--plan"],
    env: { DENO_WEBGPU_BACKEND: "gl" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  if (probes.gl) {
    // Mesa's OpenGL driver is here: forced onto it, the preflight warns and installs nothing.
    assert.match(text, /plan: warn: .*OpenGL/);
  } else {
    assert.match(text, /plan: fail: DENO_WEBGPU_BACKEND=gl finds no WebGPU adapter/);
  }
});
