/**
 * Checks that the core packages load in a browser, as part of `deno task check`:
 *
 * 1. type-checks every browser entry point (each core package's exports except `./fs` and
 *    `./prepare`) with the browser libraries only — `dom`, `dom.iterable`, `esnext` and the
 *    WebGPU types of `@webgpu/types`, no `deno.ns` (config: `deno.browser.json`), so a
 *    `Deno.*` call anywhere they reach fails;
 * 2. bundles each one with `deno bundle --platform browser` into a temporary folder and
 *    refuses a bundle that still imports a Node built-in (`node:*`, or a bare `require`),
 *    which type-checking alone lets through.
 *
 * Errors name the entry point and the file at fault; the exit code is 1 on any failure.
 *
 * @module
 */

/** Core packages that must run in a browser, and the exports a browser never imports. */
const PACKAGES = ["tensor", "ssm-kernel", "vss-block", "vmunet", "metrics", "datasets"];
const DENO_ONLY_EXPORTS = new Set(["./fs", "./prepare"]);

const root = new URL("../", import.meta.url);
const config = new URL("deno.browser.json", root).pathname;

/** The browser entry points: `[package, export, file path]`. */
async function entryPoints(): Promise<[string, string, string][]> {
  const out: [string, string, string][] = [];
  for (const name of PACKAGES) {
    const dir = new URL(`packages/${name}/`, root);
    const pkg = JSON.parse(await Deno.readTextFile(new URL("deno.json", dir)));
    const exportsField: Record<string, string> = typeof pkg.exports === "string"
      ? { ".": pkg.exports }
      : pkg.exports;
    for (const [key, file] of Object.entries(exportsField)) {
      if (!DENO_ONLY_EXPORTS.has(key)) out.push([name, key, new URL(file, dir).pathname]);
    }
  }
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

if (import.meta.main) {
  const entries = await entryPoints();
  const failures: string[] = [];
  const files = entries.map(([, , file]) => file);
  const check = await run(["check", "--config", config, ...files]);
  if (!check.ok) {
    failures.push(
      `browser type-check (lib dom, dom.iterable, esnext + @webgpu/types; no deno.ns) failed:\n` +
        check.output.split("\n")
          .filter((l) => !/^(Check|Download) |^Stack backtrace|^\s+\d+: /.test(l)).join("\n"),
    );
  }
  const outDir = await Deno.makeTempDir({ prefix: "vmunet-browser-bundle-" });
  try {
    for (const [name, key, file] of entries) {
      const label = `@vmunet/${name}${key === "." ? "" : key.slice(1)}`;
      const out = `${outDir}/${name}${key === "." ? "" : key.slice(1).replaceAll("/", "_")}.js`;
      const bundle = await run([
        "bundle",
        "--quiet",
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
        const size = (await Deno.stat(out)).size;
        console.log(`browser bundle ${label}: ${(size / 1024).toFixed(0)} KiB`);
      }
    }
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
  if (failures.length > 0) {
    console.error(failures.join("\n\n"));
    console.error(
      "browser check failed: the core packages must not use Deno.* or node:* (path-based " +
        "helpers belong in the ./fs exports or the apps)",
    );
    Deno.exit(1);
  }
  console.log(
    `browser check: ${entries.length} entry points type-check and bundle for the browser`,
  );
}
