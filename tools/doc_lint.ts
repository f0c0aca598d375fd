/**
 * Runs `deno doc --lint` on the entry points of every workspace member.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
let failed = false;
for (const member of config.workspace as string[]) {
  const dir = new URL(`${member.replace(/^\.\//, "")}/`, root);
  const pkg = JSON.parse(await Deno.readTextFile(new URL("deno.json", dir)));
  const exportsField = pkg.exports ?? {};
  const entries = typeof exportsField === "string" ? [exportsField] : Object.values(exportsField);
  if (entries.length === 0) continue;
  const files = (entries as string[]).map((e) => new URL(e, dir).pathname);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", ...files],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (out.code !== 0) {
    console.error(`deno doc --lint failed for ${member}`);
    failed = true;
  }
}
Deno.exit(failed ? 1 : 0);
