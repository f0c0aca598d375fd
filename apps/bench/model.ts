/**
 * `deno run -A apps/bench/model.ts [--quick] [--json FILE] [--profile]`: VM-UNet forward
 * (inference: no tape), taped forward (the training step's forward alone) and training-step
 * (forward + backward + AdamW) time per image for `vmunet-s` and `vmunet-t` at 256², batch 1
 * and 8, with the peak GPU bytes in use and the adapter. The three alternate within each
 * timed iteration, so a drifting machine shifts them alike. Each
 * configuration runs on a fresh engine: warm-up runs first (pipeline compilation, pool
 * fill), then wall-clock time around `engine.sync()` per iteration, with the process CPU
 * time of the same iteration (all threads, lavapipe's workers included: on a shared machine
 * CPU time is steadier than wall-clock). A configuration that fails (binding-size limit,
 * device loss) is reported with its error and the run goes on.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { AdamW, Engine, type Tensor } from "@vmunet/tensor";
import { preset, VMUNet } from "@vmunet/vmunet";
import { profileOps, type ProfileRow } from "./_model_profile.ts";

/** Options of {@linkcode runModelBench}. */
export interface ModelBenchOptions {
  /** Presets to measure (default `vmunet-s`, `vmunet-t`). */
  presets?: string[];
  /** Batch sizes (default 1 and 8). */
  batches?: number[];
  /** Input height = width (default 256). */
  size?: number;
  /** Untimed runs before timing (default 1). */
  warmup?: number;
  /** Timed runs (default 3). */
  iterations?: number;
  /** Also time the training step (default true). */
  train?: boolean;
  /** Op breakdown of one forward and one training step of the first configuration. */
  profile?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** One measured configuration. */
export interface ModelBenchRow {
  /** Preset name. */
  preset: string;
  /** Batch size. */
  batch: number;
  /** Input height = width. */
  size: number;
  /** Parameters of the model. */
  parameters: number;
  /** Median forward time per batch (ms), inference (no tape). */
  forwardMs?: number;
  /** Fastest forward per batch (ms): the least disturbed by other jobs. */
  forwardBestMs?: number;
  /** Process CPU ms (all threads) of the fastest forward. */
  forwardCpuMs?: number;
  /** Forward time per image (ms). */
  forwardMsPerImage?: number;
  /** Median time per batch (ms) of the training step's forward alone (tape recorded). */
  tapedForwardMs?: number;
  /** Fastest taped forward per batch (ms). */
  tapedForwardBestMs?: number;
  /** Median training-step time per batch (ms). */
  trainMs?: number;
  /** Fastest training step per batch (ms). */
  trainBestMs?: number;
  /** Process CPU ms of the fastest training step. */
  trainCpuMs?: number;
  /** Training-step time per image (ms). */
  trainMsPerImage?: number;
  /** Training step ÷ forward (medians). */
  trainToForward?: number;
  /** Training step ÷ forward (fastest runs). */
  trainToForwardBest?: number;
  /** Training step ÷ taped forward (medians). */
  trainToTapedForward?: number;
  /** Peak pooled GPU bytes in use during a forward. */
  forwardPeakBytes?: number;
  /** Peak pooled GPU bytes in use during a training step. */
  trainPeakBytes?: number;
  /** Dispatches per forward. */
  forwardDispatches?: number;
  /** Dispatches per training step. */
  trainDispatches?: number;
  /** Why the configuration could not be measured. */
  error?: string;
}

/** The whole run. */
export interface ModelBenchResult {
  /** Adapter description. */
  adapter: string;
  /** ISO date. */
  date: string;
  /** 1-minute load average at the start and the end (the machine may be shared). */
  loadAverage: [number, number];
  /** Warm-up and timed runs. */
  warmup: number;
  /** Timed runs. */
  iterations: number;
  /** One row per preset and batch. */
  rows: ModelBenchRow[];
  /** Op breakdown of the first configuration's forward, if requested. */
  profileForward?: ProfileRow[];
  /** Op breakdown of its training step, if requested. */
  profileTrain?: ProfileRow[];
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Timing {
  wall: number;
  cpu: number;
}

function cpuMillis(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function timed(engine: Engine, fn: () => void): Promise<Timing> {
  await engine.sync();
  const c0 = cpuMillis(), t0 = performance.now();
  fn();
  await engine.sync();
  return { wall: performance.now() - t0, cpu: cpuMillis() - c0 };
}

function fastest(t: Timing[]): Timing {
  return t.reduce((a, b) => (b.wall < a.wall ? b : a));
}

function randomInput(engine: Engine, shape: number[], seed: number): Tensor {
  let s = seed >>> 0;
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    data[i] = s / 2 ** 32;
  }
  return engine.keep(engine.tensor(data, shape));
}

/**
 * Measures VM-UNet forward and training-step time per image.
 *
 * @param options Presets, batches, size, iterations.
 * @returns The rows and the adapter.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { runModelBench } from "./model.ts";
 * const r = await runModelBench({ presets: ["vmunet-t"], batches: [1], size: 64 });
 * assert.ok(r.rows[0].forwardMsPerImage > 0);
 * ```
 */
export async function runModelBench(options: ModelBenchOptions = {}): Promise<ModelBenchResult> {
  const presets = options.presets ?? ["vmunet-s", "vmunet-t"];
  const batches = options.batches ?? [1, 8];
  const size = options.size ?? 256;
  const warmup = options.warmup ?? 1;
  const iterations = options.iterations ?? 3;
  const log = options.log ?? (() => {});
  const result: ModelBenchResult = {
    adapter: "",
    date: new Date().toISOString(),
    loadAverage: [Deno.loadavg()[0], 0],
    warmup,
    iterations,
    rows: [],
  };
  for (const name of presets) {
    for (const batch of batches) {
      const engine = await Engine.create();
      result.adapter = engine.gpu.adapterInfo.description || engine.gpu.adapterInfo.device;
      const config = preset(name);
      const model = VMUNet.create(engine, config, { seed: 0 });
      const row: ModelBenchRow = { preset: name, batch, size, parameters: model.parameterCount };
      result.rows.push(row);
      try {
        const x = randomInput(engine, [batch, config.inChannels, size, size], 1);
        const target = randomInput(engine, [batch, 1, size, size], 2);
        const forward = () =>
          engine.scope(() => {
            engine.noGrad(() => model.forward(x, { training: false }));
          });
        // The training step's own forward (tape recorded, drop path on, scan checkpoints
        // stored), without the backward: what the step's backward and AdamW add to it.
        const tapedForward = () =>
          engine.scope(() => {
            model.forward(x, { training: true });
          });
        const optimizer = new AdamW([...model.parameters.values()]);
        const step = () =>
          engine.scope(() => {
            const { output } = model.forward(x, { training: true });
            model.loss(output, target).backward();
            optimizer.step();
            optimizer.zeroGrad();
          });
        // The three measurements alternate within each iteration, so that a machine whose
        // speed drifts (a shared host) shifts them alike and their ratios stay fair.
        const train = options.train ?? true;
        const kinds: [string, () => void][] = [["forward", forward]];
        if (train) kinds.push(["taped forward", tapedForward], ["train", step]);
        const runs = new Map<string, { times: Timing[]; dispatches: number }>(
          kinds.map(([k]) => [k, { times: [], dispatches: 0 }]),
        );
        let trainPeak = 0;
        // The forward's peak memory is taken before the first training step allocates the
        // AdamW moments (inference holds no optimizer state).
        engine.pool.resetPeak();
        await timed(engine, forward);
        const inferencePeak = engine.stats().peakBytes;
        for (let i = 0; i < warmup; i++) for (const [, fn] of kinds) await timed(engine, fn);
        for (let i = 0; i < iterations; i++) {
          for (const [kind, fn] of kinds) {
            const run = runs.get(kind)!;
            engine.pool.resetPeak();
            const d0 = engine.stats().dispatches;
            const t = await timed(engine, fn);
            run.dispatches = engine.stats().dispatches - d0;
            if (kind === "train") trainPeak = Math.max(trainPeak, engine.stats().peakBytes);
            run.times.push(t);
            log(`${name} b${batch} ${kind} ${t.wall.toFixed(0)} ms (CPU ${t.cpu.toFixed(0)})`);
          }
        }
        const f = runs.get("forward")!;
        row.forwardDispatches = f.dispatches;
        row.forwardPeakBytes = inferencePeak;
        row.forwardMs = median(f.times.map((t) => t.wall));
        row.forwardMsPerImage = row.forwardMs / batch;
        row.forwardBestMs = fastest(f.times).wall;
        row.forwardCpuMs = fastest(f.times).cpu;
        if (train) {
          const tf = runs.get("taped forward")!, t = runs.get("train")!;
          row.tapedForwardMs = median(tf.times.map((x) => x.wall));
          row.tapedForwardBestMs = fastest(tf.times).wall;
          row.trainDispatches = t.dispatches;
          row.trainPeakBytes = trainPeak;
          row.trainMs = median(t.times.map((x) => x.wall));
          row.trainMsPerImage = row.trainMs / batch;
          row.trainToForward = row.trainMs / row.forwardMs;
          row.trainBestMs = fastest(t.times).wall;
          row.trainCpuMs = fastest(t.times).cpu;
          row.trainToForwardBest = row.trainBestMs / row.forwardBestMs;
          row.trainToTapedForward = row.trainMs / row.tapedForwardMs;
        }
        if (options.profile && result.profileForward === undefined) {
          result.profileForward = await profileOps(engine, forward);
          if (train) result.profileTrain = await profileOps(engine, step);
        }
        engine.gpu.throwIfFailed();
      } catch (error) {
        row.error = String(error instanceof Error ? error.message : error).split("\n")[0];
        log(`${name} b${batch}: ${row.error}`);
      } finally {
        await engine.close();
      }
    }
  }
  result.loadAverage[1] = Deno.loadavg()[0];
  return result;
}

const fmtMs = (v?: number) => (v === undefined ? "–" : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const fmtMiB = (v?: number) => (v === undefined ? "–" : (v / 2 ** 20).toFixed(0));

/**
 * The result as a Markdown table (and the op breakdowns when present).
 *
 * @param r A result of {@linkcode runModelBench}.
 * @returns Markdown.
 */
export function modelBenchMarkdown(r: ModelBenchResult): string {
  const lines = [
    `Adapter: ${r.adapter}; ${r.date.slice(0, 10)}; warm-up ${r.warmup}, ${r.iterations} ` +
    `timed runs; 1-min load average ${r.loadAverage[0].toFixed(1)} → ` +
    `${r.loadAverage[1].toFixed(1)}. Per image: median wall-clock / fastest run / process CPU ` +
    `time of the fastest run (all threads); taped forward: median / fastest.`,
    "",
    "| model | batch | input | forward ms/img | taped fwd ms/img | train step ms/img | train ÷ fwd (median, fastest) | train ÷ taped fwd | peak MiB fwd / train | dispatches fwd / train |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const row of r.rows) {
    const per = (v?: number) => fmtMs(v === undefined ? undefined : v / row.batch);
    if (row.error && row.forwardMs === undefined) {
      lines.push(
        `| ${row.preset} | ${row.batch} | ${row.size}² | failed: ${row.error} | | | | | | |`,
      );
      continue;
    }
    const fwd = `${per(row.forwardMs)} / ${per(row.forwardBestMs)} / ${per(row.forwardCpuMs)}`;
    const train = `${per(row.trainMs)} / ${per(row.trainBestMs)} / ${per(row.trainCpuMs)}` +
      (row.error ? ` (${row.error})` : "");
    const ratio = `${row.trainToForward?.toFixed(2) ?? "–"}, ${
      row.trainToForwardBest?.toFixed(2) ?? "–"
    }`;
    const taped = `${per(row.tapedForwardMs)} / ${per(row.tapedForwardBestMs)}`;
    const tapedRatio = row.trainToTapedForward?.toFixed(2) ?? "–";
    const peak = `${fmtMiB(row.forwardPeakBytes)} / ${fmtMiB(row.trainPeakBytes)}`;
    const disp = `${row.forwardDispatches ?? "–"} / ${row.trainDispatches ?? "–"}`;
    lines.push(
      `| ${row.preset} | ${row.batch} | ${row.size}² | ${fwd} | ${taped} | ${train} | ${ratio} | ${tapedRatio} | ${peak} | ${disp} |`,
    );
  }
  for (
    const [title, rows] of [["forward", r.profileForward], [
      "training step",
      r.profileTrain,
    ]] as const
  ) {
    if (!rows) continue;
    const first = r.rows[0];
    lines.push(
      "",
      `Op breakdown of one ${title} (${first.preset}, batch ${first.batch}, ${first.size}²; each command replayed alone between syncs):`,
      "",
      "| op | count | ms | share |",
      "|---|---|---|---|",
    );
    for (const p of rows.filter((p) => p.share >= 0.005)) {
      lines.push(`| ${p.op} | ${p.count} | ${fmtMs(p.ms)} | ${(100 * p.share).toFixed(1)} % |`);
    }
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      profile: { type: "boolean", default: false },
      presets: { type: "string" },
      batches: { type: "string" },
      size: { type: "string" },
      iterations: { type: "string" },
    },
  });
  const options: ModelBenchOptions = values.quick
    ? { presets: ["vmunet-t"], batches: [1, 2], size: 64, warmup: 1, iterations: 1 }
    : {};
  if (values.presets) options.presets = values.presets.split(",");
  if (values.batches) options.batches = values.batches.split(",").map(Number);
  if (values.size) options.size = Number(values.size);
  if (values.iterations) options.iterations = Number(values.iterations);
  options.profile = values.profile;
  options.log = (line) => console.error(line);
  const result = await runModelBench(options);
  console.log(modelBenchMarkdown(result));
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(result, null, 2) + "\n");
}
