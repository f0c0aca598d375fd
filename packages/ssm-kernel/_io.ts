/**
 * Small upload/readback helpers for the convenience functions (the kernels themselves work
 * on caller-owned buffers).
 *
 * @module
 */

import { ScanShapeError } from "./errors.ts";
import type { ScanBufferSizes, ScanGradientArrays, ScanInputBuffers } from "./scan_buffers.ts";

/** Creates a storage buffer holding `data` (as f32), or zeros of `count` elements. */
export function upload(
  device: GPUDevice,
  data: ArrayLike<number> | number,
  label: string,
): GPUBuffer {
  const count = typeof data === "number" ? data : data.length;
  const buffer = device.createBuffer({
    label,
    size: Math.max(4, count * 4),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    mappedAtCreation: typeof data !== "number",
  });
  if (typeof data !== "number") {
    new Float32Array(buffer.getMappedRange()).set(data);
    buffer.unmap();
  }
  return buffer;
}

/** Reads several buffers back in one submit. */
export async function readBack(
  device: GPUDevice,
  encoder: GPUCommandEncoder,
  buffers: GPUBuffer[],
): Promise<Float32Array[]> {
  const staging = buffers.map((b) =>
    device.createBuffer({ size: b.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })
  );
  buffers.forEach((b, i) => encoder.copyBufferToBuffer(b, 0, staging[i], 0, b.size));
  device.queue.submit([encoder.finish()]);
  const out: Float32Array[] = [];
  for (const s of staging) {
    await s.mapAsync(GPUMapMode.READ);
    out.push(new Float32Array(s.getMappedRange().slice(0)));
    s.unmap();
    s.destroy();
  }
  return out;
}

/** Checks an array argument's length. */
function expectLength(
  what: string,
  name: string,
  data: ArrayLike<number>,
  count: number,
  shape: string,
  err: (m: string) => Error,
): void {
  if (!data || data.length !== count) {
    throw err(`${what}: '${name}' has ${data?.length} values, expected ${count} = ${shape}`);
  }
}

/** One host input of {@linkcode runScanOnce}: its values and its shape as text. */
export type HostInput = [data: ArrayLike<number>, shape: string];

/** How {@linkcode runScanOnce} encodes the scan over the buffers it uploaded. */
export interface OnceEncoders {
  /** Encodes the forward into `out` (and the checkpoints into `state` when given). */
  forward(
    encoder: GPUCommandEncoder,
    inputs: Record<string, GPUBuffer>,
    out: GPUBuffer,
    state?: GPUBuffer,
  ): void;
  /** Encodes the backward from the output gradient `dOut` into `grads`. */
  backward(
    encoder: GPUCommandEncoder,
    inputs: Record<string, GPUBuffer>,
    state: GPUBuffer,
    dOut: GPUBuffer,
    grads: Record<string, GPUBuffer>,
  ): void;
}

/** The name of each scan input's gradient in the backward's buffer records. */
const GRAD_NAMES: Record<keyof ScanInputBuffers, keyof ScanGradientArrays> = {
  u: "du",
  delta: "ddelta",
  A: "dA",
  B: "dB",
  C: "dC",
  D: "dD",
  deltaBias: "dDeltaBias",
};

/**
 * The convenience functions' one-shot run: checks every host array's length (naming the
 * input, its count and shape), uploads them, encodes the forward and, when `dOut` is given,
 * the backward, reads the output (and the gradients) back in one submit and frees every
 * buffer and the scan.
 *
 * @param device The device.
 * @param what The calling function's name, for errors.
 * @param scan The scan (its buffer sizes and checkpoint size; destroyed at the end).
 * @param inputs Host inputs by name.
 * @param dOut The output gradient as `[name, values, shape text]`, or undefined (forward only).
 * @param encode The forward and backward encoders.
 * @returns The output and, with `dOut`, the gradients by name.
 */
export async function runScanOnce(
  device: GPUDevice,
  what: string,
  scan: { readonly sizes: Readonly<ScanBufferSizes>; readonly stateBytes: number; destroy(): void },
  inputs: Record<keyof ScanInputBuffers, HostInput>,
  dOut: [name: string, data: ArrayLike<number>, shape: string] | undefined,
  encode: OnceEncoders,
): Promise<{ out: Float32Array; grads?: ScanGradientArrays }> {
  const err = (m: string) => new ScanShapeError(m);
  const made: GPUBuffer[] = [];
  const up = (d: ArrayLike<number> | number, label: string) => {
    const b = upload(device, d, label);
    made.push(b);
    return b;
  };
  const sizes = scan.sizes;
  const outCount = sizes.out;
  try {
    for (const [name, [data, shape]] of Object.entries(inputs)) {
      expectLength(what, name, data, sizes[name as keyof ScanInputBuffers], shape, err);
    }
    if (dOut) expectLength(what, dOut[0], dOut[1], outCount, dOut[2], err);
    const buffers: Record<string, GPUBuffer> = {};
    for (const [name, [data]] of Object.entries(inputs)) buffers[name] = up(data, name);
    const out = up(outCount, "out");
    // Forward only: no checkpoints (the scan skips their stores).
    const state = dOut ? up(scan.stateBytes / 4, "state") : undefined;
    const encoder = device.createCommandEncoder();
    encode.forward(encoder, buffers, out, state);
    if (!dOut) {
      const [o] = await readBack(device, encoder, [out]);
      return { out: o };
    }
    // Each gradient has its input's element count.
    const counts = Object.keys(inputs).map((n) =>
      [GRAD_NAMES[n as keyof ScanInputBuffers], sizes[n as keyof ScanInputBuffers]] as const
    );
    const names = counts.map(([n]) => n);
    const grads: Record<string, GPUBuffer> = {};
    for (const [name, count] of counts) grads[name] = up(count, name);
    encode.backward(encoder, buffers, state!, up(dOut[1], dOut[0]), grads);
    const [o, ...g] = await readBack(device, encoder, [out, ...names.map((n) => grads[n])]);
    return {
      out: o,
      grads: Object.fromEntries(names.map((n, i) => [n, g[i]])) as ScanGradientArrays,
    };
  } finally {
    for (const b of made) b.destroy();
    scan.destroy();
  }
}
