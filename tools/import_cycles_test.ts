import { addInfo, findCycles, type ModuleGraph } from "./import_cycles.ts";

function graphOf(edges: Record<string, string[]>): ModuleGraph {
  const g: ModuleGraph = new Map();
  for (const [from, to] of Object.entries(edges)) g.set(from, new Set(to));
  return g;
}

const samePackage = (s: string) => s.split("/")[0];

Deno.test("findCycles reports a circle inside a package and ignores one across packages", () => {
  const g = graphOf({
    "a/x.ts": ["a/y.ts"],
    "a/y.ts": ["a/z.ts"],
    "a/z.ts": ["a/x.ts", "b/p.ts"],
    "b/p.ts": ["a/x.ts"],
    "b/q.ts": ["b/q.ts"],
  });
  const cycles = findCycles(g, samePackage);
  const text = JSON.stringify(cycles.sort());
  if (text !== JSON.stringify([["a/x.ts", "a/y.ts", "a/z.ts"], ["b/q.ts"]])) {
    throw new Error(`unexpected cycles ${text}`);
  }
});

Deno.test("findCycles finds none in a DAG", () => {
  const g = graphOf({ "a/x.ts": ["a/y.ts", "a/z.ts"], "a/y.ts": ["a/z.ts"], "a/z.ts": [] });
  if (findCycles(g, samePackage).length !== 0) throw new Error("false circle");
});

Deno.test("addInfo keeps value imports and drops type-only imports", () => {
  const g: ModuleGraph = new Map();
  addInfo(g, {
    modules: [
      { specifier: "a/x.ts", dependencies: [{ code: { specifier: "a/y.ts" } }] },
      { specifier: "a/y.ts", dependencies: [{}] }, // `import type` has only a `type` entry
    ],
  });
  if ([...g.get("a/x.ts")!].join() !== "a/y.ts" || g.get("a/y.ts")!.size !== 0) {
    throw new Error(`unexpected graph ${JSON.stringify([...g].map(([k, v]) => [k, [...v]]))}`);
  }
});
