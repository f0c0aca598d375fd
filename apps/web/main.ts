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

const USAGE = `deno task web [--port N]

Bundles the page (apps/web/page) for the browser and serves it on http://localhost:N/
(default 8000). Open it in a browser with WebGPU: load a checkpoint (.safetensors from
deno task train, or an official .pth), segment PNG/JPEG images, train the default run.

Flags:
  --port N              port to listen on (0 picks a free one)
  -h, --help            this text`;

async function main(): Promise<number> {
  let values: { port: string; help: boolean };
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        port: { type: "string", default: "8000" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }));
  } catch (error) {
    console.error(`web: ${(error as Error).message.split(". ")[0]} (see --help)`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`web: --port ${values.port} is not a port number (see --help)`);
    return 2;
  }
  const server = await startWebServer({ port });
  console.log(`VM-UNet web app: ${server.url}  (open it in a browser with WebGPU; Ctrl-C stops)`);
  return -1; // keep serving
}

if (import.meta.main) {
  const code = await main();
  if (code >= 0) Deno.exit(code);
}
