import assert from "node:assert/strict";
import { checkBrowserEntries, entryPoints, nodeImports } from "./browser_check.ts";

Deno.test("nodeImports() finds node: imports and bare requires a browser bundle keeps", () => {
  const bundle = [
    `import { inflateRawSync } from "node:zlib";`,
    `const fs = await import("node:fs");`,
    `var path = require("path");`,
    `var local = require("./local.js");`,
    `// import { x } from "./x.js";`,
  ].join("\n");
  assert.deepEqual(nodeImports(bundle).sort(), ["node:fs", "node:zlib", "path"]);
  assert.deepEqual(nodeImports(`const a = "node:zlib is mentioned in a string";`), []);
});

Deno.test("the web page is a browser entry point: it type-checks with the browser libraries and bundles without Node built-ins", async () => {
  const entries = await entryPoints();
  const page = entries.find((e) => e.label === "apps/web/page/app.ts");
  assert.ok(page, `the page is not checked; entry points: ${entries.map((e) => e.label)}`);
  const { failures, sizes } = await checkBrowserEntries([page]);
  assert.deepEqual(failures, []);
  assert.ok(sizes.get(page.label)! > 100_000, `page bundle of ${sizes.get(page.label)} bytes`);
});
