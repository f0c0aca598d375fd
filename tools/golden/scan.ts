/**
 * Golden runner for `scan_*.safetensors`: runs the GPU selective scan forward and backward on
 * the fixture's inputs (every shape read from the tensors) and compares `out` and every
 * `grad.*` with the golden tolerances.
 *
 * @module
 */

import { selectiveScan } from "@vmunet/ssm-kernel";
import { isSoftwareAdapter, requestGpu } from "@vmunet/tensor";
import { readSafetensors } from "@vmunet/tensor/fs";
import type { FixtureReport, GoldenRunner, RunOptions } from "./runner.ts";
import { compareForward, compareGradient, type Comparison } from "./tolerance.ts";

const GRADS = [
  ["grad.u", "du"],
  ["grad.delta", "ddelta"],
  ["grad.A", "dA"],
  ["grad.B", "dB"],
  ["grad.C", "dC"],
  ["grad.D", "dD"],
  ["grad.delta_bias", "dDeltaBias"],
] as const;

/**
 * Checks one scan fixture on the GPU.
 *
 * @param path The fixture file.
 * @param options The adapter class the scan's variants are chosen for.
 * @returns Every comparison.
 */
export async function runScanFixture(
  path: string,
  options: RunOptions = {},
): Promise<FixtureReport> {
  const file = await readSafetensors(path);
  const fixture = path.split("/").pop()!;
  const shape = (k: string) => file.get(k).shape;
  const [batch, channels, length] = shape("u");
  const [, groups, dState] = shape("B");
  const fail = (m: string) => new Error(`${fixture}: ${m}`);
  if (shape("u").length !== 3 || shape("B").length !== 4 || shape("A").length !== 2) {
    throw fail(
      `expected u (B,G·D,L), B (B,G,N,L), A (G·D,N); got u ${shape("u")}, B ${shape("B")}, A ${
        shape("A")
      }`,
    );
  }
  if (channels % groups !== 0) {
    throw fail(`u has ${channels} channels, not a multiple of the ${groups} groups of B`);
  }
  const softplus = file.metadata["delta_softplus"];
  if (softplus !== undefined && softplus !== "True" && softplus !== "true") {
    throw fail(`delta_softplus = ${softplus}; only True (VM-UNet's setting) is implemented`);
  }
  const gpu = await requestGpu();
  try {
    const r = await selectiveScan(
      gpu.device,
      {
        batch,
        groups,
        channelsPerGroup: channels / groups,
        length,
        dState,
        u: file.float32("u"),
        delta: file.float32("delta"),
        A: file.float32("A"),
        B: file.float32("B"),
        C: file.float32("C"),
        D: file.float32("D"),
        deltaBias: file.float32("delta_bias"),
      },
      file.float32("dout"),
      {
        subgroups: gpu.subgroups,
        subgroupMinSize: gpu.adapterInfo.subgroupMinSize || undefined,
        fallbackAdapter: options.adapterClass === undefined || options.adapterClass === "auto"
          ? isSoftwareAdapter(gpu.adapterInfo)
          : options.adapterClass === "cpu",
      },
    );
    gpu.throwIfFailed();
    const comparisons: Comparison[] = [compareForward("out", r.out, file.float32("out"))];
    for (const [key, name] of GRADS) {
      if (file.has(key)) comparisons.push(compareGradient(key, r.grads![name], file.float32(key)));
    }
    return { fixture, kind: "scan", comparisons, ok: comparisons.every((c) => c.ok) };
  } finally {
    await gpu.close();
  }
}

/** The `scan` runner: files named `scan_*.safetensors`. */
export const scanRunner: GoldenRunner = {
  kind: "scan",
  matches: (fileName: string): boolean => /^scan_.*\.safetensors$/.test(fileName),
  run: runScanFixture,
};
