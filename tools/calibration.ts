/**
 * A one-line speed calibration for `deno task doctor`: the engine's default matmul and a
 * plain-JS loop on the same machine, in the same minute, so a user can place their machine
 * beside the figures in BENCHMARKS.md (software-adapter speed depends strongly on the CPU).
 *
 * @module
 */

import os from "node:os";
import { type Engine, matmul } from "@vmunet/tensor";
import { gpuTiming, jsMatmulTiming } from "../packages/tensor/bench/_measure.ts";

/** What {@linkcode calibrate} measured. */
export interface Calibration {
  /** The square matmul size. */
  size: number;
  /** Engine default matmul, GFLOP/s wall-clock (fastest round). */
  engineGflops: number;
  /** Plain-JS i-k-j loop, GFLOP/s wall-clock (fastest of the runs). */
  jsGflops: number;
}

/**
 * The CPU as `lscpu` names it (model name) and its logical core count.
 *
 * @returns E.g. `AMD EPYC, 2 cores`.
 */
export function cpuName(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.trim() || "unknown CPU";
  return `${model}, ${cpus.length} core${cpus.length === 1 ? "" : "s"}`;
}

/**
 * Times the engine's default matmul and the plain-JS loop at `size`³.
 *
 * @param engine The engine (its default kernel choice is what is timed).
 * @param size Square size (default 512).
 * @returns GFLOP/s of both.
 */
export async function calibrate(engine: Engine, size = 512): Promise<Calibration> {
  const flop = 2 * size ** 3 / 1e6;
  const random = () => new Float32Array(size * size).map(() => Math.random());
  const a = engine.tensor(random(), [size, size]);
  const b = engine.tensor(random(), [size, size]);
  try {
    const t = await gpuTiming(
      engine,
      () => engine.scope(() => void matmul(a, b)),
      1,
      3,
    );
    const js = jsMatmulTiming(size, size, size, 2);
    return { size, engineGflops: flop / t.wall, jsGflops: flop / js.wall };
  } finally {
    a.dispose();
    b.dispose();
  }
}

/**
 * The calibration as one line.
 *
 * @param c The measurement.
 * @param cpu The CPU's name (default {@linkcode cpuName}()).
 * @param load The 1-minute load average (default from the OS; other jobs slow both timings).
 * @returns The line.
 *
 * @example
 * ```ts
 * import { formatCalibration } from "./calibration.ts";
 * const line = formatCalibration({ size: 512, engineGflops: 12.34, jsGflops: 1.6 }, "AMD EPYC, 2 cores");
 * if (!line.includes("matmul 512³ 12.3 GFLOP/s") || !line.includes("7.7×")) throw new Error(line);
 * ```
 */
export function formatCalibration(
  c: Calibration,
  cpu: string = cpuName(),
  load: number | undefined = os.loadavg()[0],
): string {
  return `matmul ${c.size}³ ${c.engineGflops.toFixed(1)} GFLOP/s (engine default), ` +
    `plain-JS loop ${c.jsGflops.toFixed(2)} GFLOP/s (${
      (c.engineGflops / c.jsGflops).toFixed(1)
    }×), ${cpu}${load === undefined ? "" : `, load average ${load.toFixed(1)}`}`;
}
