/**
 * Every registered fixture runner. Add a runner here when its package lands.
 *
 * @module
 */

import type { GoldenRunner } from "./runner.ts";
import { metricsRunner } from "./metrics.ts";
import { scanRunner } from "./scan.ts";
import { vmunetRunner } from "./vmunet.ts";

/** The runners `deno task golden` dispatches to, by file name. */
export const RUNNERS: GoldenRunner[] = [scanRunner, metricsRunner, vmunetRunner];
