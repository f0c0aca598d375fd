/**
 * The web app's server: bundles the page's TypeScript for the browser (`deno bundle
 * --platform browser`) and serves it with `index.html` on localhost — a secure context, so
 * the page gets `navigator.gpu`. Nothing else is served: images and checkpoints stay in the
 * browser.
 *
 * @module
 */

/** Raised when the page cannot be bundled; holds the bundler's output. */
export class BundleError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "BundleError";
  }
}

const PAGE = new URL("./page/", import.meta.url);

/**
 * Bundles the page's entry point for the browser.
 *
 * @returns The JavaScript of `page/app.ts` and everything it imports.
 * @throws {BundleError} with the bundler's messages when it fails.
 */
export async function bundlePage(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "vmunet-web-" });
  try {
    const out = `${dir}/app.js`;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--platform",
        "browser",
        "--sourcemap",
        "inline",
        "-o",
        out,
        new URL("app.ts", PAGE).pathname,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new BundleError(
        `deno bundle of apps/web/page/app.ts failed:\n${new TextDecoder().decode(stderr)}`,
      );
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Options of {@linkcode startWebServer}. */
export interface WebServerOptions {
  /** Port (default 8000; 0 picks a free one). */
  port?: number;
  /** Host name to listen on (default `localhost`). */
  hostname?: string;
  /** More files to serve by path (tests serve fixtures this way). */
  files?: ReadonlyMap<string, Uint8Array>;
}

/** A running server. */
export interface WebServer {
  /** The page's address, `http://localhost:PORT/`. */
  url: string;
  /** Stops serving. */
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  png: "image/png",
};

/**
 * Bundles the page and serves it.
 *
 * @param options Port, host and extra files.
 * @returns The address and a way to stop.
 * @throws {BundleError} when the page does not bundle.
 */
export async function startWebServer(options: WebServerOptions = {}): Promise<WebServer> {
  const hostname = options.hostname ?? "localhost";
  const files = new Map<string, Uint8Array | string>(options.files ?? []);
  files.set("/", await Deno.readTextFile(new URL("index.html", PAGE)));
  files.set("/app.js", await bundlePage());
  const server = Deno.serve(
    { port: options.port ?? 8000, hostname, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      const body = files.get(path);
      if (path === "/favicon.ico") return new Response(null, { status: 204 });
      if (body === undefined) return new Response("not found", { status: 404 });
      const ext = path === "/" ? "html" : path.split(".").pop()!;
      return new Response(body as BodyInit, {
        headers: {
          "content-type": TYPES[ext] ?? "application/octet-stream",
          "cache-control": "no-store",
        },
      });
    },
  );
  const port = server.addr.port;
  return { url: `http://localhost:${port}/`, close: () => server.shutdown() };
}
