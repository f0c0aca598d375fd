/**
 * Which native graphics API (wgpu "backend") Deno's WebGPU adapter runs on, and what the
 * preflight should do about it. WebGPU's `adapter.info` does not name the backend, so each
 * backend is probed in a fresh process with `DENO_WEBGPU_BACKEND` set to it, and the default
 * adapter (the one the tasks get) is matched against those probes.
 *
 * Why it matters: with Mesa's OpenGL driver but not its Vulkan driver, Deno falls back to
 * llvmpipe through OpenGL: no `shader-f16`, no usable subgroups, and about 2.5× slower than
 * the same CPU through Mesa's Vulkan driver (lavapipe). The preflight installs
 * `mesa-vulkan-drivers` then ({@linkcode planPreflight}).
 *
 * @module
 */

/** A wgpu backend as `DENO_WEBGPU_BACKEND` names it. */
export type Backend = "vulkan" | "metal" | "dx12" | "gl";

/** The native backends in the order wgpu prefers them, before the OpenGL fallback. */
export const NATIVE_BACKENDS: readonly Backend[] = ["vulkan", "metal", "dx12"];

/** Every backend probed: the native ones, then OpenGL. */
export const BACKENDS: readonly Backend[] = [...NATIVE_BACKENDS, "gl"];

/** The Debian/Ubuntu package with Mesa's software Vulkan driver (lavapipe). */
export const VULKAN_PACKAGE = "mesa-vulkan-drivers";

/** What one probe saw of an adapter: its `GPUAdapterInfo` and feature names. */
export interface AdapterSummary {
  /** `info.description`. */
  description: string;
  /** `info.vendor`. */
  vendor: string;
  /** `info.device`. */
  device: string;
  /** `info.architecture`. */
  architecture: string;
  /** `info.isFallbackAdapter`. */
  isFallbackAdapter: boolean;
  /** `info.subgroupMinSize`, when reported. */
  subgroupMinSize?: number;
  /** `info.subgroupMaxSize`, when reported. */
  subgroupMaxSize?: number;
  /** `adapter.features`, sorted. */
  features: string[];
}

/** The adapter each probe found (absent: none). */
export interface BackendProbes extends Partial<Record<Backend, AdapterSummary>> {
  /** What `requestAdapter()` gives with the environment as it is (what the tasks get). */
  default?: AdapterSummary;
}

function sameAdapter(a: AdapterSummary, b: AdapterSummary): boolean {
  const key = (s: AdapterSummary) =>
    JSON.stringify([
      s.description,
      s.vendor,
      s.device,
      s.architecture,
      s.isFallbackAdapter,
      s.subgroupMinSize ?? null,
      s.subgroupMaxSize ?? null,
      [...s.features].sort(),
    ]);
  return key(a) === key(b);
}

/**
 * The backend of the default adapter: the first backend (native ones first, in wgpu's
 * order) whose probe found the same adapter.
 *
 * @param probes The probes.
 * @returns The backend, or undefined when there is no default adapter or no probe matches.
 *
 * @example
 * ```ts
 * import { type AdapterSummary, backendOf } from "./webgpu_backend.ts";
 * const cpu = { vendor: "65541", device: "0", architecture: "", isFallbackAdapter: true };
 * const vk: AdapterSummary = { ...cpu, description: "llvmpipe", features: ["shader-f16"] };
 * const gl: AdapterSummary = { ...cpu, description: "llvmpipe", features: [] };
 * if (backendOf({ default: gl, vulkan: vk, gl }) !== "gl") throw new Error("want gl");
 * if (backendOf({ default: vk, vulkan: vk, gl }) !== "vulkan") throw new Error("want vulkan");
 * ```
 */
export function backendOf(probes: BackendProbes): Backend | undefined {
  const found = probes.default;
  if (!found) return undefined;
  return BACKENDS.find((b) => probes[b] !== undefined && sameAdapter(probes[b]!, found));
}

/** The facts {@linkcode planPreflight} decides on. */
export interface PreflightFacts {
  /** `Deno.build.os`. */
  os: string;
  /** The adapter per backend, and the default one. */
  probes: BackendProbes;
  /** `DENO_WEBGPU_BACKEND` when set (the user chose the backends). */
  forcedBackend?: string;
  /** Whether `apt-get` is there. */
  apt: boolean;
  /** How packages can be installed: as root, through `sudo -n`, or not at all. */
  privilege: "root" | "sudo" | "none";
}

/** What the preflight does. */
export type PreflightPlan =
  /** The default adapter is on a native backend (or one not probed): go on. */
  | { action: "ok"; backend?: Backend; message: string }
  /** Install {@linkcode VULKAN_PACKAGE} with apt-get, then probe again. */
  | { action: "install"; package: string; message: string }
  /** Go on, but say loudly that the adapter is the slow OpenGL one and how to fix it. */
  | { action: "warn"; backend: "gl"; message: string }
  /**
   * Stop: no adapter the tasks can use. `driverHelp`: whether driver install advice applies
   * (not when `DENO_WEBGPU_BACKEND` alone hides an adapter another backend has).
   */
  | { action: "fail"; message: string; driverHelp: boolean };

const GL_COST = "OpenGL backend (llvmpipe through GL: no shader-f16, no subgroups, " +
  "about 2.5x slower than Mesa's Vulkan driver on the same CPU)";

/**
 * Decides what the preflight does: prefer a Vulkan/Metal/D3D12 adapter; when the only adapter
 * is OpenGL (or there is none) on a Debian/Ubuntu machine where packages can be installed,
 * install Mesa's Vulkan driver; otherwise warn (OpenGL works, slowly) or fail (no adapter),
 * saying what to install. A backend forced with `DENO_WEBGPU_BACKEND` is respected: nothing
 * is installed for it.
 *
 * @param facts What the probes found and what this machine allows.
 * @returns The plan.
 *
 * @example
 * ```ts
 * import { type AdapterSummary, planPreflight } from "./webgpu_backend.ts";
 * const gl: AdapterSummary = {
 *   description: "llvmpipe", vendor: "65541", device: "0", architecture: "",
 *   isFallbackAdapter: true, features: [],
 * };
 * const plan = planPreflight({
 *   os: "linux", probes: { default: gl, gl }, apt: true, privilege: "root",
 * });
 * if (plan.action !== "install") throw new Error(plan.message);
 * ```
 */
export function planPreflight(facts: PreflightFacts): PreflightPlan {
  const { probes, forcedBackend } = facts;
  const native = NATIVE_BACKENDS.find((b) => probes[b] !== undefined);
  const backend = backendOf(probes);
  const canInstall = facts.os === "linux" && facts.apt && facts.privilege !== "none";
  const installHint = facts.os === "linux"
    ? `install Mesa's Vulkan driver (Debian/Ubuntu: \`sudo apt-get install ${VULKAN_PACKAGE}\`, ` +
      `Fedora: \`sudo dnf install ${VULKAN_PACKAGE}\`) or your GPU's Vulkan driver`
    : "install or update the GPU's Metal (macOS) or D3D12/Vulkan (Windows) driver";
  const forced = forcedBackend === undefined ? "" : `DENO_WEBGPU_BACKEND=${forcedBackend}`;

  if (probes.default === undefined) {
    if (forced && (native || probes.gl)) {
      return {
        action: "fail",
        message: `${forced} finds no WebGPU adapter, but ${native ?? "gl"} has one: ` +
          `unset DENO_WEBGPU_BACKEND (it takes a comma-separated list of ${BACKENDS.join(", ")}).`,
        driverHelp: false,
      };
    }
    if (canInstall && !forced) {
      return {
        action: "install",
        package: VULKAN_PACKAGE,
        message:
          `no WebGPU adapter found; installing Mesa's software Vulkan driver (${VULKAN_PACKAGE}).`,
      };
    }
    const why = facts.os === "linux" && facts.apt && facts.privilege === "none"
      ? ` (installing ${VULKAN_PACKAGE} needs root, and sudo asks for a password)`
      : "";
    return {
      action: "fail",
      message: `no WebGPU adapter${why}${forced ? ` with ${forced}` : ""}.`,
      driverHelp: true,
    };
  }
  if (backend !== "gl") {
    return {
      action: "ok",
      backend,
      message: `WebGPU adapter "${probes.default.description}" on ${
        backend ?? "an unprobed backend"
      }.`,
    };
  }
  if (native) {
    return {
      action: "warn",
      backend: "gl",
      message: `the WebGPU adapter runs on the ${GL_COST}, though ${native} has an adapter` +
        (forced ? `: ${forced} chose it; unset it to use ${native}.` : "."),
    };
  }
  if (canInstall && !forced) {
    return {
      action: "install",
      package: VULKAN_PACKAGE,
      message: `the only WebGPU adapter runs on the ${GL_COST}; ` +
        `installing Mesa's software Vulkan driver (${VULKAN_PACKAGE}).`,
    };
  }
  return {
    action: "warn",
    backend: "gl",
    message: `the only WebGPU adapter runs on the ${GL_COST}. For full speed, ${installHint}` +
      (facts.privilege === "none" && facts.apt ? " (this needs root)." : "."),
  };
}

const PROBE_SOURCE = `
const a = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
if (a) {
  const i = a.info;
  console.log(JSON.stringify({
    description: i.description, vendor: i.vendor, device: i.device,
    architecture: i.architecture, isFallbackAdapter: i.isFallbackAdapter,
    subgroupMinSize: i.subgroupMinSize, subgroupMaxSize: i.subgroupMaxSize,
    features: [...a.features].sort(),
  }));
}`;

/**
 * Asks a fresh Deno process (so that the driver loaders rescan) for an adapter, on `backend`
 * or with the environment as it is.
 *
 * @param backend The backend to force through `DENO_WEBGPU_BACKEND`; undefined: as the tasks run.
 * @returns What the adapter reports, or undefined when there is none.
 */
export async function probeAdapter(backend?: Backend): Promise<AdapterSummary | undefined> {
  const env: Record<string, string> = backend ? { DENO_WEBGPU_BACKEND: backend } : {};
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", PROBE_SOURCE],
    env,
    stdout: "piped",
    stderr: "null",
  }).output();
  const line = new TextDecoder().decode(output.stdout).trim().split("\n").pop() ?? "";
  if (output.code !== 0 || !line.startsWith("{")) return undefined;
  return JSON.parse(line) as AdapterSummary;
}

/**
 * Probes the default adapter and every backend, in parallel fresh processes.
 *
 * @returns The probes.
 */
export async function probeBackends(): Promise<BackendProbes> {
  const [found, ...perBackend] = await Promise.all([
    probeAdapter(),
    ...BACKENDS.map((b) => probeAdapter(b)),
  ]);
  const probes: BackendProbes = { default: found };
  BACKENDS.forEach((b, i) => {
    if (perBackend[i]) probes[b] = perBackend[i];
  });
  return probes;
}
