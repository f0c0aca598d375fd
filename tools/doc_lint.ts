/**
 * Runs `deno doc --lint` on the entry points of every workspace member, all in one call so
 * that types a package uses from another member (e.g. `Tensor` from `@vmunet/tensor`) count
 * as public; errors name the file at fault.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
const files: string[] = [];
for (const member of config.workspace as string[]) {
  const dir = new URL(`${member.replace(/^\.\//, "")}/`, root);
  const pkg = JSON.parse(await Deno.readTextFile(new URL("deno.json", dir)));
  const exportsField = pkg.exports ?? {};
  const entries = typeof exportsField === "string" ? [exportsField] : Object.values(exportsField);
  files.push(...(entries as string[]).map((e) => new URL(e, dir).pathname));
}
const out = await new Deno.Command(Deno.execPath(), {
  args: ["doc", "--lint", ...files],
  stdout: "inherit",
  stderr: "inherit",
}).output();
if (out.code !== 0) console.error("deno doc --lint failed (see the files named above)");
Deno.exit(out.code === 0 ? 0 : 1);
