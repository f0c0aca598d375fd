/**
 * Checks that the core packages and the web page load in a browser, as part of
 * `deno task check`:
 *
 * 1. type-checks every browser entry point (each core package's exports except `./fs` and
 *    `./prepare`, and the page's `apps/web/page/app.ts`) with the browser libraries only — `dom`, `dom.iterable`, `esnext` and the
 *    WebGPU types of `@webgpu/types`, no `deno.ns` (config: `deno.browser.json`), so a
 *    `Deno.*` call anywhere they reach fails;
 * 2. bundles each one with `deno bundle --platform browser` into a temporary folder and
 *    refuses a bundle that still imports a Node built-in (`node:*`, or a bare `require`),
 *    which type-checking alone lets through.
 *
 * Errors name the entry point and the file at fault; the exit code is 1 on any failure. The
 * browser configuration is run without the lock file (`--no-lock`): its smaller workspace would
 * otherwise prune the lock entries of the apps' dependencies.
 *
 * @module
 */

/** Core packages that must run in a browser, and the exports a browser never imports. */
const PACKAGES = ["wgsl", "tensor", "ssm-kernel", "vss-block", "vmunet", "metrics", "datasets"];
const DENO_ONLY_EXPORTS = new Set(["./fs", "./prepare"]);
/** Pages served to a browser, relative to the repository root. */
const PAGES = ["apps/web/page/app.ts"];

const root = new URL("../", import.meta.url);
const config = new URL("deno.browser.json", root).pathname;

/** One module a browser loads. */
export interface BrowserEntry {
  /** How messages name it: `@vmunet/tensor/safetensors`, `apps/web/page/app.ts`. */
  label: string;
  /** Its absolute path. */
  file: string;
}

/**
 * The browser entry points: every export of the core packages but the Deno-only ones, and the
 * web page.
 *
 * @returns The entry points, packages first.
 */
export async function entryPoints(): Promise<BrowserEntry[]> {
  const out: BrowserEntry[] = [];
  for (const name of PACKAGES) {
    const dir = new URL(`packages/${name}/`, root);
    const pkg = JSON.parse(await Deno.readTextFile(new URL("deno.json", dir)));
    const exportsField: Record<string, string> = typeof pkg.exports === "string"
      ? { ".": pkg.exports }
      : pkg.exports;
    for (const [key, file] of Object.entries(exportsField)) {
      if (DENO_ONLY_EXPORTS.has(key)) continue;
      const label = `@vmunet/${name}${key === "." ? "" : key.slice(1)}`;
      out.push({ label, file: new URL(file, dir).pathname });
    }
  }
  for (const page of PAGES) out.push({ label: page, file: new URL(page, root).pathname });
  return out;
}

async function run(args: string[]): Promise<{ ok: boolean; output: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root.pathname,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { ok: out.success, output: text };
}

/** Node built-ins a bundle still imports: `node:*` specifiers and bare `require(...)`s. */
export function nodeImports(bundle: string): string[] {
  const found = new Set<string>();
  for (const m of bundle.matchAll(/\b(?:from|import)\s*\(?\s*["'](node:[^"']+)["']/g)) {
    found.add(m[1]);
  }
  for (const m of bundle.matchAll(/\brequire\(\s*["']([^"'./][^"']*)["']\s*\)/g)) found.add(m[1]);
  return [...found];
}

/**
 * Type-checks the entry points with the browser libraries only, then bundles each for the
 * browser and looks for Node built-ins left in the bundle.
 *
 * @param entries The entry points.
 * @returns One message per failure (empty when every entry point passes) and each bundle's size.
 */
export async function checkBrowserEntries(
  entries: readonly BrowserEntry[],
): Promise<{ failures: string[]; sizes: Map<string, number> }> {
  const failures: string[] = [];
  const sizes = new Map<string, number>();
  const check = await run([
    "check",
    "--no-lock",
    "--config",
    config,
    ...entries.map((e) => e.file),
  ]);
  if (!check.ok) {
    failures.push(
      `browser type-check (lib dom, dom.iterable, esnext + @webgpu/types; no deno.ns) failed:\n` +
        check.output.split("\n")
          .filter((l) => !/^(Check|Download) |^Stack backtrace|^\s+\d+: /.test(l)).join("\n"),
    );
  }
  const outDir = await Deno.makeTempDir({ prefix: "vmunet-browser-bundle-" });
  try {
    for (const [i, { label, file }] of entries.entries()) {
      const out = `${outDir}/${i}.js`;
      const bundle = await run([
        "bundle",
        "--quiet",
        "--no-lock",
        "--platform",
        "browser",
        "--config",
        config,
        "--output",
        out,
        file,
      ]);
      if (!bundle.ok) {
        failures.push(`${label}: deno bundle --platform browser failed:\n${bundle.output}`);
        continue;
      }
      const node = nodeImports(await Deno.readTextFile(out));
      if (node.length > 0) {
        failures.push(
          `${label} (${file}): the browser bundle still imports Node built-ins: ${node.join(", ")}`,
        );
      } else {
        sizes.set(label, (await Deno.stat(out)).size);
      }
    }
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
  return { failures, sizes };
}

if (import.meta.main) {
  const entries = await entryPoints();
  const { failures, sizes } = await checkBrowserEntries(entries);
  for (const [label, size] of sizes) {
    console.log(`browser bundle ${label}: ${(size / 1024).toFixed(0)} KiB`);
  }
  if (failures.length > 0) {
    console.error(failures.join("\n\n"));
    console.error(
      "browser check failed: the core packages and the page must not use Deno.* or node:* " +
        "(path-based helpers belong in the ./fs exports or the apps' Deno-side modules)",
    );
    Deno.exit(1);
  }
  console.log(
    `browser check: ${entries.length} entry points type-check and bundle for the browser`,
  );
}
