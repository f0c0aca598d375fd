/**
 * `deno task web`: serves the VM-UNet page on localhost — load a checkpoint, segment images,
 * train the default synthetic run — all on the browser's WebGPU; files never leave the
 * machine.
 *
 * ```sh
 * deno task web [--port 8000]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startWebServer } from "./server.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { port: { type: "string", default: "8000" } },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`error: --port ${values.port} is not a port number`);
    Deno.exit(2);
  }
  const server = await startWebServer({ port });
  console.log(`VM-UNet web app: ${server.url}  (open it in a browser with WebGPU; Ctrl-C stops)`);
}
