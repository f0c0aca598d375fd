/**
 * `deno task bench`: the project's benchmark tables. Each subject measures one part against
 * its baseline in the same run and names the adapter.
 *
 * Usage: `deno task bench [SUBJECT…] [--quick] [--json FILE] [--update-md FILE]`
 * Subjects: `scan` (the selective scan alone). Default: all subjects.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { requestGpu } from "@vmunet/tensor";
import { formatRow, runScanBench, TABLE_HEADER } from "./scan.ts";

/** A benchmark subject: a name, its markdown section title and a runner returning records. */
interface Subject {
  name: string;
  section: string;
  run(quick: boolean, log: (line: string) => void): Promise<{ records: unknown[]; table: string }>;
}

const gpu = await requestGpu();

const SUBJECTS: Subject[] = [
  {
    name: "scan",
    section: "Selective scan",
    async run(quick, log) {
      log(TABLE_HEADER);
      const records = await runScanBench(gpu, { quick, log });
      return { records, table: [TABLE_HEADER, ...records.map(formatRow)].join("\n") };
    },
  },
];

/** Replaces (or appends) the `## title` section of a markdown file. */
async function updateSection(file: string, title: string, body: string): Promise<void> {
  let text = "";
  try {
    text = await Deno.readTextFile(file);
  } catch {
    text = "# Benchmarks\n";
  }
  const head = `## ${title}`;
  const start = text.indexOf(`\n${head}\n`);
  const section = `${head}\n\n${body}\n`;
  if (start < 0) {
    text = text.trimEnd() + "\n\n" + section;
  } else {
    const next = text.indexOf("\n## ", start + head.length + 1);
    text = text.slice(0, start + 1) + section + (next < 0 ? "" : text.slice(next));
  }
  await Deno.writeTextFile(file, text);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      "update-md": { type: "string" },
    },
  });
  const wanted = positionals.length ? positionals : SUBJECTS.map((s) => s.name);
  const unknown = wanted.filter((w) => !SUBJECTS.some((s) => s.name === w));
  if (unknown.length) {
    console.error(
      `unknown subject(s) ${unknown.join(", ")}; known: ${SUBJECTS.map((s) => s.name).join(", ")}`,
    );
    return 2;
  }
  const info = gpu.adapterInfo;
  const adapter = `${info.description || info.device} (${info.vendor}${
    info.isFallbackAdapter ? ", fallback/software" : ""
  }), subgroups ${gpu.subgroups ? `yes (${info.subgroupMinSize}–${info.subgroupMaxSize})` : "no"}`;
  console.log(`adapter: ${adapter}`);
  const all: unknown[] = [];
  for (const subject of SUBJECTS.filter((s) => wanted.includes(s.name))) {
    console.log(`\n## ${subject.section}${values.quick ? " (quick)" : ""}\n`);
    const { records, table } = await subject.run(values.quick, (l) => console.log(l));
    all.push(...records);
    if (values["update-md"]) {
      const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
      await updateSection(
        values["update-md"],
        subject.section,
        `Adapter: ${adapter}. Measured ${stamp} UTC by \`deno task bench ${subject.name}\`.\n\n${table}`,
      );
    }
  }
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(all, null, 2) + "\n");
  gpu.destroy();
  return 0;
}

Deno.exit(await main());
