/**
 * Moving bytes between the CPU and GPU buffers.
 *
 * @module
 */

/**
 * Creates a storage buffer holding `data` (usable as a kernel input or output and copyable).
 *
 * @param device The device.
 * @param data The initial contents; its byte length is rounded up to a multiple of 4.
 * @param label Debug label.
 * @returns The buffer, with `STORAGE | COPY_SRC | COPY_DST` usage.
 */
export function createStorageBuffer(
  device: GPUDevice,
  data: ArrayBufferView,
  label?: string,
): GPUBuffer {
  const size = Math.max(4, Math.ceil(data.byteLength / 4) * 4);
  const buffer = device.createBuffer({
    label,
    size,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    mappedAtCreation: true,
  });
  new Uint8Array(buffer.getMappedRange()).set(
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  );
  buffer.unmap();
  return buffer;
}

/**
 * Copies `byteLength` bytes of `source` (from `byteOffset`) back to the CPU.
 * Costs one GPU→CPU synchronisation (≥ 10 ms in Deno): call it rarely.
 *
 * @param device The device.
 * @param source A buffer with `COPY_SRC` usage.
 * @param byteLength Bytes to read (a multiple of 4); defaults to the rest of the buffer.
 * @param byteOffset Offset in bytes (a multiple of 4).
 * @returns A fresh copy of the bytes.
 */
export async function readBuffer(
  device: GPUDevice,
  source: GPUBuffer,
  byteLength: number = source.size,
  byteOffset = 0,
): Promise<ArrayBuffer> {
  const staging = device.createBuffer({
    size: Math.max(4, byteLength),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(source, byteOffset, staging, 0, byteLength);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = staging.getMappedRange().slice(0, byteLength);
  staging.unmap();
  staging.destroy();
  return copy;
}
