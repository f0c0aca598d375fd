import assert from "node:assert/strict";
import { nodeImports } from "./browser_check.ts";

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
