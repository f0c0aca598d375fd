/**
 * The fixture-runner contract: each kind of golden fixture has a runner that recognises its
 * files by name and checks them against this project's implementation.
 *
 * @module
 */

import type { Comparison } from "./tolerance.ts";

/** What one fixture produced. */
export interface FixtureReport {
  /** The fixture's file name. */
  fixture: string;
  /** The runner's kind. */
  kind: string;
  /** Every comparison made. */
  comparisons: Comparison[];
  /** Whether all comparisons held. */
  ok: boolean;
}

/** How a runner runs its fixture. */
export interface RunOptions {
  /**
   * The adapter class the kernel choices are made for (`Engine`'s `adapterClass`; the scan's
   * `fallbackAdapter`): `"gpu"` on a software adapter checks the GPU code paths without a
   * GPU. Default `"auto"`: from the adapter.
   */
  adapterClass?: "auto" | "cpu" | "gpu";
  /**
   * Model fixtures: the device limits to request instead of the adapter's maxima (WebGPU's
   * defaults for every limit not named), to check the kernels fit a browser's adapter.
   */
  requiredLimits?: Record<string, number>;
}

/** A runner for one kind of fixture. */
export interface GoldenRunner {
  /** Short name: `scan`, `metrics`, `vmunet`. */
  kind: string;
  /** Whether `fileName` (no folder) is a fixture this runner checks. */
  matches(fileName: string): boolean;
  /** Checks the fixture at `path` (other files it needs are found beside it). */
  run(path: string, options?: RunOptions): Promise<FixtureReport>;
}
