/**
 * The `scan` subject: the selective scan alone, at VM-UNet's stage shapes (256² input), in
 * mamba's generic layout and as SS2D's four-direction cross-scan, against the float64 CPU
 * reference measured in the same run.
 *
 * @module
 */

import {
  CrossScan2d,
  type ScanBufferSizes,
  type ScanKernelOptions,
  type ScanKernelPlan,
  SelectiveScan,
  selectiveScanBackwardReference,
  selectiveScanPlan,
  selectiveScanReference,
} from "@vmunet/ssm-kernel";
import { type GpuContext, isSoftwareAdapter } from "@vmunet/tensor";
import { ss2dScanPlan } from "@vmunet/vss-block";
import process from "node:process";

/** One measured configuration. */
export interface ScanRecord {
  /** Subject name. */
  subject: "scan";
  /** `generic` (B, G·D, L) or `cross2d` (SS2D channels-last, four directions). */
  layout: "generic" | "cross2d";
  /** `fwd` or `fwd+bwd`. */
  pass: "fwd" | "fwd+bwd";
  /** Kernel choice: `gpu` (the chunked family) or `cpu` (the serial-row family). */
  choice: "cpu" | "gpu";
  /** Batch size. */
  batch: number;
  /** Channels G·D (4·Di for cross2d). */
  channels: number;
  /** Sequence length. */
  length: number;
  /** State size. */
  dState: number;
  /** Milliseconds per call (wall clock, mean over `reps` calls in one submit). */
  ms: number;
  /** Milliseconds per image (`ms / batch`). */
  msPerImage: number;
  /** B·G·D·L·N / time. */
  stateUpdatesPerSecond: number;
  /** Minimal bytes moved (inputs read once, outputs written once) / time, in GB/s. */
  gbPerSecond: number;
  /** CPU float64 reference time (ms), scaled from `cpuRows` measured rows. */
  cpuMs: number;
  /** Rows the CPU reference actually ran (scaled linearly to all rows). */
  cpuRows: number;
  /** cpuMs / ms (wall clock; on a shared machine both are inflated by other load). */
  speedup: number;
  /** CPU time of this process per GPU call (lavapipe runs the kernels on the CPU). */
  gpuProcessCpuMs: number;
  /** CPU time of the reference / CPU time of the GPU call: robust to other load, but ignores that the adapter uses several cores. */
  cpuTimeRatio: number;
  /** Kernel variant the rule picked. */
  variant: string;
  /** Calls timed. */
  reps: number;
  /** Adapter description. */
  adapter: string;
}

function random(count: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(count);
  let a = seed >>> 0;
  for (let i = 0; i < count; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (hi - lo) * (a / 4294967296);
  }
  return out;
}

function upload(device: GPUDevice, data: Float32Array | number): GPUBuffer {
  const n = typeof data === "number" ? data : data.length;
  const b = device.createBuffer({
    size: Math.max(16, n * 4),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
  if (typeof data !== "number") device.queue.writeBuffer(b, 0, data);
  return b;
}

/**
 * Uploads a scan's seeded inputs (Δ in [−3, 1), A in [−2, −0.1), bias in [−1, 0)), its
 * output gradient and zeroed gradient buffers, through `up`.
 */
function scanBuffers(up: (d: Float32Array | number) => GPUBuffer, n: Readonly<ScanBufferSizes>) {
  const inputs = {
    u: up(random(n.u, 1)),
    delta: up(random(n.delta, 2, -3, 1)),
    A: up(random(n.A, 3, -2, -0.1)),
    B: up(random(n.B, 4)),
    C: up(random(n.C, 5)),
    D: up(random(n.D, 6)),
    deltaBias: up(random(n.deltaBias, 7, -1, 0)),
  };
  const dOut = up(random(n.out, 8));
  const grads = {
    du: up(n.u),
    ddelta: up(n.delta),
    dA: up(n.A),
    dB: up(n.B),
    dC: up(n.C),
    dD: up(n.D),
    dDeltaBias: up(n.deltaBias),
  };
  return { inputs, out: up(n.out), dOut, grads };
}

async function timeGpu(device: GPUDevice, encode: (e: GPUCommandEncoder) => void, reps: number) {
  const enc = device.createCommandEncoder();
  encode(enc);
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const e2 = device.createCommandEncoder();
  for (let i = 0; i < reps; i++) encode(e2);
  device.queue.submit([e2.finish()]);
  await device.queue.onSubmittedWorkDone();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / reps, cpu: (c.user + c.system) / 1000 / reps };
}

/** Times the float64 reference on `rows` rows of length L (one group) and scales to `total`. */
function timeCpu(rows: number, total: number, L: number, N: number) {
  const x = {
    batch: 1,
    groups: 1,
    channelsPerGroup: rows,
    length: L,
    dState: N,
    u: random(rows * L, 1),
    delta: random(rows * L, 2, -3, 1),
    A: random(rows * N, 3, -2, -0.1),
    B: random(N * L, 4),
    C: random(N * L, 5),
    D: random(rows, 6),
    deltaBias: random(rows, 7, -1, 0),
  };
  const dout = random(rows * L, 8);
  // Warm the JIT on a slice before timing.
  const w = {
    ...x,
    channelsPerGroup: 1,
    length: Math.min(L, 64),
    B: x.B.slice(0, N * 64),
    C: x.C.slice(0, N * 64),
  };
  selectiveScanBackwardReference(w, dout);
  selectiveScanReference(w);
  const scale = total / rows;
  let t0 = performance.now();
  let c0 = process.cpuUsage();
  selectiveScanReference(x);
  let c = process.cpuUsage(c0);
  const fwd = { wall: (performance.now() - t0) * scale, cpu: (c.user + c.system) / 1000 * scale };
  t0 = performance.now();
  c0 = process.cpuUsage();
  selectiveScanReference(x);
  selectiveScanBackwardReference(x, dout);
  c = process.cpuUsage(c0);
  const fwdBwd = {
    wall: (performance.now() - t0) * scale,
    cpu: (c.user + c.system) / 1000 * scale,
  };
  return { fwd, fwdBwd };
}

function bytesMoved(batch: number, CH: number, G: number, L: number, N: number, bwd: boolean) {
  const act = batch * CH * L; // u, delta, out, dout, du, ddelta
  const bc = batch * G * N * L; // B, C, dB, dC
  const params = CH * (N + 2);
  // forward: read u, delta, B, C, params; write out. backward adds: read u, delta, B, C, dout,
  // params; write du, ddelta, dB, dC, dA/dD/dbias.
  const fwd = 3 * act + 2 * bc + params;
  return 4 * (bwd ? fwd + 5 * act + 4 * bc + 2 * params : fwd);
}

/** Options of {@linkcode runScanBench}. */
export interface ScanBenchOptions {
  /** Tiny shapes and few repetitions (CI smoke). */
  quick: boolean;
  /** Print each record as it is measured. */
  log: (line: string) => void;
  /** Restrict to these `(G·D, L)` shapes (default: the four stages). */
  shapes?: [number, number][];
  /**
   * Restrict to these batch sizes (default: 1, 8 and 32 on a GPU, 1 on a software adapter;
   * a batch that does not fit the device's limits is reported and skipped).
   */
  batches?: number[];
  /** Kernel choices to time: `auto` (this adapter's), `cpu`, `gpu` or `both`; default `auto`. */
  adapterClass?: "auto" | "cpu" | "gpu" | "both";
}

/** Runs the sweep and returns one record per (layout, shape, batch, pass). */
export async function runScanBench(gpu: GpuContext, opts: ScanBenchOptions): Promise<ScanRecord[]> {
  const device = gpu.device;
  const software = isSoftwareAdapter(gpu.adapterInfo);
  const kernelOptions: ScanKernelOptions = {
    subgroups: gpu.subgroups,
    subgroupMinSize: gpu.adapterInfo.subgroupMinSize || undefined,
  };
  const N = 16;
  const G = 4;
  const shapes: [number, number][] = opts.shapes ??
    (opts.quick ? [[64, 256], [128, 64]] : [[768, 4096], [1536, 1024], [3072, 256], [6144, 64]]);
  const batches = opts.batches ?? (opts.quick || software ? [1] : [1, 8, 32]);
  const want = opts.adapterClass ?? "auto";
  const choices: ("cpu" | "gpu")[] = want === "both"
    ? ["cpu", "gpu"]
    : [want === "auto" ? (software ? "cpu" : "gpu") : want];
  const records: ScanRecord[] = [];
  const adapter = gpu.adapterInfo.description || gpu.adapterInfo.device || "unknown";
  for (const layout of ["generic", "cross2d"] as const) {
    for (const [CH, L] of shapes) {
      for (const batch of batches) {
        for (const choice of choices) {
          const made: GPUBuffer[] = [];
          let built: SelectiveScan | CrossScan2d | undefined;
          try {
            const options = { ...kernelOptions, fallbackAdapter: choice === "cpu" };
            const Dg = CH / G;
            const side = Math.round(Math.sqrt(L));
            const up = (d: Float32Array | number) => {
              const b = upload(device, d);
              made.push(b);
              return b;
            };
            const scan = layout === "generic"
              ? new SelectiveScan(
                device,
                { batch, groups: G, channelsPerGroup: Dg, length: L, dState: N },
                options,
              )
              : new CrossScan2d(
                device,
                { batch, height: side, width: L / side, channels: Dg, dState: N },
                options,
              );
            built = scan;
            const { variant, stateBytes } = scan;
            const { inputs: inp, out, dOut, grads } = scanBuffers(up, scan.sizes);
            const state = up(stateBytes / 4);
            const fwd = (e: GPUCommandEncoder) =>
              scan instanceof CrossScan2d
                ? scan.encodeForward(e, { ...inp, y: out, state })
                : scan.encodeForward(e, { ...inp, out, state });
            const bwd = (e: GPUCommandEncoder) =>
              scan instanceof CrossScan2d
                ? scan.encodeBackward(e, { ...inp, state, dy: dOut, ...grads })
                : scan.encodeBackward(e, { ...inp, state, dout: dOut, ...grads });
            const work = batch * CH * L * N;
            const reps = opts.quick ? 2 : Math.max(2, Math.min(20, Math.round(4e8 / work)));
            const tf = await timeGpu(device, fwd, reps);
            const tfb = await timeGpu(device, (e) => {
              fwd(e);
              bwd(e);
            }, reps);
            gpu.throwIfFailed();
            const total = batch * CH;
            const cpuRows = Math.min(total, Math.max(4, Math.ceil(2e6 / (L * N))));
            const cpu = timeCpu(cpuRows, total, L, N);
            const passes: [
              "fwd" | "fwd+bwd",
              { wall: number; cpu: number },
              { wall: number; cpu: number },
            ][] = [
              ["fwd", tf, cpu.fwd],
              ["fwd+bwd", tfb, cpu.fwdBwd],
            ];
            for (const [pass, gpuT, refT] of passes) {
              const ms = gpuT.wall;
              const cpuMs = refT.wall;
              const r: ScanRecord = {
                subject: "scan",
                layout,
                pass,
                choice,
                batch,
                channels: CH,
                length: L,
                dState: N,
                ms,
                msPerImage: ms / batch,
                stateUpdatesPerSecond: work / (ms / 1000),
                gbPerSecond: bytesMoved(batch, CH, G, L, N, pass === "fwd+bwd") / (ms / 1000) / 1e9,
                cpuMs,
                cpuRows,
                speedup: cpuMs / ms,
                gpuProcessCpuMs: gpuT.cpu,
                cpuTimeRatio: refT.cpu / gpuT.cpu,
                variant,
                reps,
                adapter,
              };
              records.push(r);
              opts.log(formatRow(r));
            }
          } catch (e) {
            // A configuration beyond the device's limits (binding size, memory) is skipped.
            opts.log(
              `| ${layout} | skipped | ${choice} | ${batch} | ${CH} | ${L} | ${N} | ${
                (e as Error).message.split("\n")[0]
              } |`,
            );
          } finally {
            built?.destroy();
            for (const b of made) b.destroy();
          }
        }
      }
    }
  }
  return records;
}

/** Markdown table header for {@linkcode formatRow}. */
export const TABLE_HEADER: string =
  "| layout | pass | kernels | B | G·D | L | N | ms | ms/img | state-upd/s | GB/s | CPU ref ms (rows run) | speed-up | CPU-time ratio | variant |\n" +
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

/** One record as a markdown table row. */
export function formatRow(r: ScanRecord): string {
  return `| ${r.layout} | ${r.pass} | ${r.choice} | ${r.batch} | ${r.channels} | ${r.length} | ${r.dState} | ` +
    `${r.ms.toFixed(1)} | ${r.msPerImage.toFixed(2)} | ${
      (r.stateUpdatesPerSecond / 1e9).toFixed(2)
    } G | ` +
    `${r.gbPerSecond.toFixed(2)} | ${r.cpuMs.toFixed(0)} (${r.cpuRows}/${
      r.batch * r.channels
    }) | ` +
    `${r.speedup.toFixed(1)}× | ${r.cpuTimeRatio.toFixed(1)}× | ${r.variant} |`;
}

/** The stage-1 shape of VM-UNet at 256² input: 64×64 positions, Di = 192, N = 16, R = 6. */
const STAGE1 = { height: 64, width: 64, channels: 192, dState: 16, dtRank: 6 };

/**
 * The launch plan of every scan kernel at the stage-1 shape (768 rows of L = 4096: 4
 * directions × Di 192, N = 16) for batch 1, 8 and 32, both kernel choices: SS2D's
 * cross-scan as the model runs it (with the dt projection that feeds it Δ) and the generic
 * layout. No timing. The GPU choice must launch ≥ 100,000 invocations per dispatch at
 * batch 1 (column `≥ 100k`).
 *
 * @param batches Batch sizes (default 1, 8, 32).
 * @returns The markdown table.
 */
export function scanPlanTable(batches: number[] = [1, 8, 32]): string {
  const rows: string[] = [
    `| choice | layout | pass | kernel | wg | dispatches | storage buffers | ${
      batches.map((b) => `workgroups B=${b}`).join(" | ")
    } | ${batches.map((b) => `invocations B=${b}`).join(" | ")} | ≥ 100k at B=${batches[0]} |`,
    `|${"---|".repeat(8 + 2 * batches.length)}`,
  ];
  for (const choice of ["gpu", "cpu"] as const) {
    const cpu = choice === "cpu";
    const plans: [string, (batch: number) => ScanKernelPlan[]][] = [
      ["cross2d (SS2D)", (batch) => ss2dScanPlan({ batch, ...STAGE1 }, cpu)],
      [
        "generic",
        (batch) =>
          selectiveScanPlan({ batch, groups: 4, channelsPerGroup: 192, length: 4096, dState: 16 }, {
            fallbackAdapter: cpu,
          }),
      ],
    ];
    for (const [layout, planFor] of plans) {
      const perBatch = batches.map(planFor);
      perBatch[0].forEach((p, i) => {
        const lines = perBatch.map((plan) => plan[i]);
        const scanKernel = !p.kernel.startsWith("Δ");
        const ok = p.invocations >= 100_000
          ? "yes"
          : scanKernel
          ? "**no**"
          : "no (not a scan kernel)";
        rows.push(
          `| ${choice} | ${layout} | ${p.pass} | ${p.kernel} | ${
            [...new Set(lines.map((l) => l.workgroupSize))].join("/")
          } | ${p.dispatches} | ${p.storageBuffers} | ${
            lines.map((l) => l.workgroups).join(" | ")
          } | ${lines.map((l) => l.invocations.toLocaleString("en-US")).join(" | ")} | ${
            cpu ? "(cpu choice)" : ok
          } |`,
        );
      });
    }
  }
  return rows.join("\n");
}
