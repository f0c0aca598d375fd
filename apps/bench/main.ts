/**
 * `deno task bench`: the project's benchmark tables. Each subject measures one part against
 * its baseline in the same run and names the adapter.
 *
 * Usage: `deno task bench [SUBJECT…] [--quick] [--json FILE] [--update-md FILE]
 * [--shapes 768x4096,…] [--batches 1,8] [--plan] [--adapter-class auto|cpu|gpu|both]`
 * Subjects: `scan` (the selective scan alone; `--plan` prints every scan kernel's launch
 * plan at the stage-1 shape instead of timing, `--adapter-class` picks the kernel choices
 * timed), `model` (VM-UNet forward and training step; `--presets vmunet-s,vmunet-t`,
 * `--batches`, `--size`). Default: all subjects.
 *
 * @module
 */

import { parseCommandFlags } from "../../tools/cli_flags.ts";
import { requestGpu } from "@vmunet/tensor";
import { formatRow, runScanBench, scanPlanTable, TABLE_HEADER } from "./scan.ts";
import { modelBenchMarkdown, runModelBench } from "./model.ts";

/** A benchmark subject: a name, its markdown section title and a runner returning records. */
interface Subject {
  name: string;
  section: string;
  run(
    quick: boolean,
    log: (line: string) => void,
    filter: Filter,
  ): Promise<{ records: unknown[]; table: string }>;
}

/** Command-line options passed to the subjects. */
interface Filter {
  shapes?: [number, number][];
  batches?: number[];
  presets?: string[];
  size?: number;
  plan: boolean;
  adapterClass?: "auto" | "cpu" | "gpu" | "both";
}

const USAGE = `deno task bench [SUBJECT…] [flags]

Speed tables, each beside its baseline measured in the same run.

Subjects (default: all):
  scan                  the selective scan alone against its CPU reference
  model                 VM-UNet forward and training step

Flags:
  --quick               small shapes, one iteration (a smoke run)
  --json FILE           write every record as JSON
  --update-md FILE      replace the subject's section of a markdown file (BENCHMARKS.md)
  --shapes AxB,…        scan shapes, e.g. 768x4096,1536x1024
  --batches N,…         batch sizes, e.g. 1,8 (scan: default 1,8,32 on GPUs, 1 on software)
  --plan                scan: print every scan kernel's launch plan (stage-1 shape, batch
                        1/8/32 or --batches, both kernel choices) instead of timing
  --adapter-class C     scan: kernel choices to time: auto (this adapter's), cpu, gpu, both
  --presets NAME,…      model presets, e.g. vmunet-s,vmunet-t
  --size N              model input side
  -h, --help            this text`;

let gpu: Awaited<ReturnType<typeof requestGpu>>;

const SUBJECTS: Subject[] = [
  {
    name: "scan",
    section: "Selective scan",
    async run(quick, log, filter) {
      if (filter.plan) {
        const table = scanPlanTable(filter.batches);
        log(table);
        return { records: [], table };
      }
      log(TABLE_HEADER);
      const records = await runScanBench(gpu, { quick, log, ...filter });
      return { records, table: [TABLE_HEADER, ...records.map(formatRow)].join("\n") };
    },
  },
  {
    name: "model",
    section: "Model",
    async run(quick, log, filter) {
      const result = await runModelBench({
        presets: filter.presets ?? (quick ? ["vmunet-t"] : undefined),
        batches: filter.batches ?? (quick ? [1] : undefined),
        size: filter.size ?? (quick ? 64 : undefined),
        iterations: quick ? 1 : undefined,
        log,
      });
      const table = modelBenchMarkdown(result);
      log(table);
      return { records: [result], table };
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
  const parsed = parseCommandFlags("bench", USAGE, {
    args: Deno.args,
    allowPositionals: true,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      "update-md": { type: "string" },
      shapes: { type: "string" },
      batches: { type: "string" },
      presets: { type: "string" },
      size: { type: "string" },
      plan: { type: "boolean", default: false },
      "adapter-class": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const adapterClass = values["adapter-class"];
  if (adapterClass !== undefined && !["auto", "cpu", "gpu", "both"].includes(adapterClass)) {
    console.error(`bench: --adapter-class must be auto, cpu, gpu or both, got ${adapterClass}`);
    return 2;
  }
  const wanted = positionals.length ? positionals : SUBJECTS.map((s) => s.name);
  const unknown = wanted.filter((w) => !SUBJECTS.some((s) => s.name === w));
  if (unknown.length) {
    console.error(
      `bench: unknown subject(s) ${unknown.join(", ")}; known: ${
        SUBJECTS.map((s) => s.name).join(", ")
      } (see --help)`,
    );
    return 2;
  }
  gpu = await requestGpu();
  const info = gpu.adapterInfo;
  const adapter = `${info.description || info.device} (${info.vendor}${
    info.isFallbackAdapter ? ", fallback/software" : ""
  }), subgroups ${gpu.subgroups ? `yes (${info.subgroupMinSize}–${info.subgroupMaxSize})` : "no"}`;
  console.log(`adapter: ${adapter}`);
  const all: unknown[] = [];
  for (const subject of SUBJECTS.filter((s) => wanted.includes(s.name))) {
    const section = values.plan && subject.name === "scan" ? "Scan launch plan" : subject.section;
    console.log(`\n## ${section}${values.quick ? " (quick)" : ""}\n`);
    const filter = {
      shapes: values.shapes?.split(",").map((s) => s.split("x").map(Number) as [number, number]),
      batches: values.batches?.split(",").map(Number),
      presets: values.presets?.split(","),
      size: values.size === undefined ? undefined : Number(values.size),
      plan: values.plan,
      adapterClass: adapterClass as Filter["adapterClass"],
    };
    const { records, table } = await subject.run(values.quick, (l) => console.log(l), filter);
    all.push(...records);
    if (values["update-md"]) {
      const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
      await updateSection(
        values["update-md"],
        section,
        values.plan && subject.name === "scan"
          ? `Computed ${stamp} UTC by \`deno task bench scan --plan\` (no timing; the plan depends ` +
            `on the shape and the kernel choice, not on the adapter): every kernel the selective ` +
            `scan launches at VM-UNet's stage-1 shape (768 rows of L = 4096: 4 directions × ` +
            `Di 192, N = 16), per dispatch. \`gpu\` is the choice for GPUs (the chunked family; ` +
            `\`--adapter-class gpu\` forces it on a software adapter), \`cpu\` the one for CPU ` +
            `adapters. Dispatches > 1: SS2D's four direction passes, each adding into the merged ` +
            `output.\n\n${table}`
          : `Adapter: ${adapter}. Measured ${stamp} UTC by \`deno task bench ${subject.name}\`.\n\n${table}`,
      );
    }
  }
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(all, null, 2) + "\n");
  await gpu.close();
  return 0;
}

Deno.exit(await main());
