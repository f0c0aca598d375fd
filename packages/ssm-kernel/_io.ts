/**
 * Small upload/readback helpers for the convenience functions (the kernels themselves work
 * on caller-owned buffers).
 *
 * @module
 */

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
export function expectLength(
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
