/**
 * Fails when the modules of one workspace member import each other in a circle. The module
 * graph comes from `deno info --json` (run on every `.ts` file of the workspace, so tests and
 * benches count too); only value imports are edges (`import type` is erased and cannot order
 * module evaluation). Prints every circle found, as the files of one strongly connected
 * component.
 *
 * Usage: `deno run -A tools/import_cycles.ts` (part of `deno task check`).
 *
 * @module
 */

/** A module graph: file URL → file URLs it imports (value imports only). */
export type ModuleGraph = Map<string, Set<string>>;

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string } }[];
}

/**
 * Merges the value-import edges of `deno info --json` output into `graph`.
 *
 * @param graph The graph to extend.
 * @param info Parsed `deno info --json` output.
 */
export function addInfo(graph: ModuleGraph, info: { modules?: InfoModule[] }): void {
  for (const m of info.modules ?? []) {
    const deps = graph.get(m.specifier) ?? new Set<string>();
    for (const d of m.dependencies ?? []) if (d.code) deps.add(d.code.specifier);
    graph.set(m.specifier, deps);
  }
}

/**
 * Strongly connected components of more than one module (or a module importing itself),
 * keeping only edges between modules under the same root from `rootOf`.
 *
 * @param graph The module graph.
 * @param rootOf The package a module belongs to (`null`: outside every package).
 * @returns Each circle as its sorted modules.
 */
export function findCycles(
  graph: ModuleGraph,
  rootOf: (specifier: string) => string | null,
): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  const edges = (v: string): string[] => {
    const r = rootOf(v);
    if (r === null) return [];
    return [...(graph.get(v) ?? [])].filter((w) => rootOf(w) === r);
  };
  // Iterative Tarjan (deep graphs must not overflow the stack).
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: [string, string[], number][] = [];
    const visit = (v: string) => {
      index.set(v, next);
      low.set(v, next++);
      stack.push(v);
      onStack.add(v);
      work.push([v, edges(v), 0]);
    };
    visit(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const [v, out] = frame;
      if (frame[2] < out.length) {
        const w = out[frame[2]++];
        if (!index.has(w)) visit(w);
        else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const u = work[work.length - 1][0];
        low.set(u, Math.min(low.get(u)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== v);
        if (comp.length > 1 || (graph.get(v)?.has(v) ?? false)) cycles.push(comp.sort());
      }
    }
  }
  return cycles;
}

async function listTs(dir: URL, out: string[]): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith(".") || e.name === "node_modules") continue;
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) await listTs(url, out);
    else if (e.isFile && e.name.endsWith(".ts")) out.push(url.href);
  }
}

async function main(): Promise<number> {
  const root = new URL("../", import.meta.url);
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const members = (config.workspace as string[]).map((m) =>
    new URL(`${m.replace(/^\.\//, "")}/`, root).href
  );
  const files: string[] = [];
  for (const m of members) await listTs(new URL(m), files);
  const graph: ModuleGraph = new Map();
  for (const file of files) {
    if (graph.has(file)) continue;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", new URL(file).pathname],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.code !== 0) {
      console.error(`deno info failed on ${file}:\n${new TextDecoder().decode(out.stderr)}`);
      return 1;
    }
    addInfo(graph, JSON.parse(new TextDecoder().decode(out.stdout)));
  }
  const rootOf = (s: string) => members.find((m) => s.startsWith(m)) ?? null;
  const cycles = findCycles(graph, rootOf);
  const rel = (s: string) => s.slice(root.href.length);
  for (const c of cycles) console.error(`import circle: ${c.map(rel).join(" ↔ ")}`);
  if (cycles.length > 0) {
    console.error(`${cycles.length} import circle(s) inside a package (value imports)`);
    return 1;
  }
  console.log(`no import circle inside a package (${graph.size} modules)`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
