/**
 * Op breakdown of one VM-UNet forward (and training step): records every dispatch the
 * engine issues and every cross-scan the blocks encode, then replays each one alone a few
 * times between GPU syncs and attributes the wall-clock time to its op. Replays read
 * whatever the buffers hold by then, so only timings (not values) are meaningful.
 *
 * @module
 */

import { CrossScan2d } from "@vmunet/ssm-kernel";
import { type Engine, Tensor } from "@vmunet/tensor";
import type { DispatchOptions } from "@vmunet/tensor/kernels";

/** Time attributed to one op (kernel family). */
export interface ProfileRow {
  /** Op name (the dispatch's `op`, or `crossScan2d.forward/forwardProjected/backward`). */
  op: string;
  /** Dispatches (or scan encodes) per recorded pass. */
  count: number;
  /** Milliseconds per recorded pass. */
  ms: number;
  /** Share of the summed time. */
  share: number;
}

type Recorded =
  | { kind: "dispatch"; op: string; options: DispatchOptions }
  | { kind: "scan"; op: string; replay: (encoder: GPUCommandEncoder) => void };

/**
 * Runs `work` once while recording its GPU commands, then replays each `reps` times alone
 * and returns the time per op, largest first.
 *
 * @param engine The engine `work` uses.
 * @param work One forward or training step (its own scope).
 * @param reps Replays per command (default 3).
 * @param detail Split matmuls by kernel and M×N×K.
 * @returns Rows sorted by time.
 */
export async function profileOps(
  engine: Engine,
  work: () => void,
  reps = 3,
  detail = false,
): Promise<ProfileRow[]> {
  const recorded: Recorded[] = [];
  const dispatch = engine.dispatch;
  const proto = CrossScan2d.prototype;
  engine.dispatch = function (options: DispatchOptions): void {
    const params = options.params;
    const copy = params === undefined ? undefined : ArrayBuffer.isView(params)
      ? new Uint8Array(
        params.buffer.slice(params.byteOffset, params.byteOffset + params.byteLength),
      )
      : Array.isArray(params)
      ? [...params]
      : Object.fromEntries(
        Object.entries(params).map(([k, v]) => [k, typeof v === "number" ? v : Array.from(v)]),
      ) as Record<string, number | number[]>;
    recorded.push({
      kind: "dispatch",
      op: detail ? describe(options) : options.op ?? options.kernel.key,
      options: {
        ...options,
        params: copy,
        // Buffers, not tensors: the replay runs after the scope disposed the tensors (the
        // pool keeps their buffers alive).
        bindings: options.bindings.map((b) => (b instanceof Tensor ? b.buffer : b)),
      },
    });
    dispatch.call(engine, options);
  };
  // The scan's encode methods, wrapped to record a replay of each call.
  type ScanEncode = (this: CrossScan2d, encoder: GPUCommandEncoder, buffers: unknown) => void;
  const methods = proto as unknown as Record<string, ScanEncode>;
  const wrapped: [method: string, op: string, original: ScanEncode][] = [
    ["encodeForward", "crossScan2d.forward", methods.encodeForward],
    ["encodeForwardProjected", "crossScan2d.forwardProjected", methods.encodeForwardProjected],
    ["encodeBackward", "crossScan2d.backward", methods.encodeBackward],
  ];
  for (const [method, op, original] of wrapped) {
    methods[method] = function (encoder, buffers) {
      recorded.push({ kind: "scan", op, replay: (e) => original.call(this, e, buffers) });
      original.call(this, encoder, buffers);
    };
  }
  try {
    work();
    await engine.sync();
  } finally {
    engine.dispatch = dispatch;
    for (const [method, , original] of wrapped) methods[method] = original;
  }
  // Sync overhead with nothing to run.
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) await engine.sync();
  const syncMs = (performance.now() - t0) / 5;
  const byOp = new Map<string, { count: number; ms: number }>();
  for (const r of recorded) {
    const start = performance.now();
    for (let i = 0; i < reps; i++) {
      if (r.kind === "dispatch") engine.dispatch(r.options);
      else r.replay(engine.commandEncoder());
    }
    await engine.sync();
    const ms = Math.max(0, performance.now() - start - syncMs) / reps;
    const row = byOp.get(r.op) ?? { count: 0, ms: 0 };
    row.count++;
    row.ms += ms;
    byOp.set(r.op, row);
  }
  const total = [...byOp.values()].reduce((a, b) => a + b.ms, 0);
  return [...byOp].map(([op, v]) => ({ op, count: v.count, ms: v.ms, share: v.ms / total }))
    .sort((a, b) => b.ms - a.ms);
}

function describe(options: DispatchOptions): string {
  const op = options.op ?? options.kernel.key;
  const p = options.params;
  if (op !== "matmul" || p === undefined) {
    const wg = options.workgroups;
    return `${op} [${options.kernel.key.slice(0, 40)}] wg ${wg.join("x")}`;
  }
  const named = p as Record<string, unknown>;
  return `${options.kernel.key} ${named.M}x${named.N}x${named.K}`;
}
