import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** Each `deno task` that runs a program: its name and the `deno run` arguments of the program. */
async function taskPrograms(): Promise<[string, string[]][]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const out: [string, string[]][] = [];
  for (const [name, command] of Object.entries(config.tasks as Record<string, string>)) {
    const last = command.split("&&").pop()!.trim();
    const m = /^deno run -A (\S+)(.*)$/.exec(last);
    if (m) out.push([name, [m[1], ...m[2].trim().split(/\s+/).filter(Boolean)]]);
  }
  return out;
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, out: text.decode(stdout), err: text.decode(stderr) };
}

Deno.test("every task that runs a program prints its usage for --help and exits 0", async () => {
  const programs = await taskPrograms();
  const names = programs.map(([name]) => name).sort();
  for (const expected of ["bench", "doctor", "eval", "golden", "predict", "train"]) {
    assert.ok(names.includes(expected), `task ${expected} not found in ${names}`);
  }
  for (const [name, program] of programs) {
    for (const flag of ["--help", "-h"]) {
      const r = await run([...program, flag]);
      assert.equal(r.code, 0, `${name} ${flag}: exit ${r.code}\n${r.err}`);
      assert.match(r.out, new RegExp(`deno task ${name}`), `${name} ${flag}`);
      assert.equal(r.err, "", `${name} ${flag}`);
    }
  }
});

Deno.test("an unknown flag of bench, golden or doctor is a one-line usage error with exit 2", async () => {
  for (
    const [program, message] of [
      ["apps/bench/main.ts", /^bench: Unknown option '--bogus' \(see --help\)\n$/],
      ["tools/golden.ts", /^golden: Unknown option '--bogus' \(see --help\)\n$/],
      ["tools/doctor.ts", /^doctor: unexpected argument "--bogus"; doctor takes no flags/],
    ] as const
  ) {
    const r = await run([program, "--bogus"]);
    assert.equal(r.code, 2, `${program}: ${r.err}`);
    assert.match(r.err, message);
    assert.equal(r.err.trim().split("\n").length, 1);
  }
});
