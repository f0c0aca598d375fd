/**
 * A pool of GPU storage buffers in size classes, with live/peak byte counters.
 *
 * @module
 */

/** Usage of every pooled buffer: kernel input/output and copy source/destination. */
export const POOL_USAGE: number = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST

/** Counters of a {@linkcode BufferPool}. */
export interface PoolStats {
  /** Bytes of buffers handed out and not yet released (size-class bytes). */
  liveBytes: number;
  /** Largest `liveBytes` seen since creation or the last `resetPeak()`. */
  peakBytes: number;
  /** Bytes of released buffers kept for reuse. */
  pooledBytes: number;
  /** Number of buffers handed out and not yet released. */
  liveBuffers: number;
  /** GPU buffers created so far. */
  created: number;
  /** Acquisitions served from the free lists. */
  reused: number;
}

interface FreeEntry {
  buffer: GPUBuffer;
  epoch: number;
}

/**
 * Rounds a byte size up to its size class: 256 bytes minimum, then four classes per power of
 * two (1, 1.25, 1.5, 1.75 × 2^k), so at most 25 % is wasted.
 *
 * @param bytes Requested size in bytes.
 * @returns The class size in bytes (a multiple of 16).
 */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(16, p / 4);
  return Math.ceil(bytes / step) * step;
}

/**
 * Hands out storage buffers by size class and takes them back for reuse.
 *
 * A released buffer may be reused at once as the output of a later GPU command (commands run
 * in order), but a buffer filled by `queue.writeBuffer` must not have been released during
 * the commands not yet submitted (writeBuffer runs before them): `acquire(bytes, true)` only
 * takes buffers released before the last submit (`epoch`).
 */
export class BufferPool {
  /** The device buffers are created on. */
  readonly device: GPUDevice;
  #free = new Map<number, FreeEntry[]>();
  #sizes = new WeakMap<GPUBuffer, number>();
  #epoch = 0;
  #live = 0;
  #peak = 0;
  #pooled = 0;
  #liveBuffers = 0;
  #created = 0;
  #reused = 0;

  /** Creates an empty pool on `device`. */
  constructor(device: GPUDevice) {
    this.device = device;
  }

  /** Marks a submit: buffers released before it may be filled with `writeBuffer` again. */
  advanceEpoch(): void {
    this.#epoch++;
  }

  /**
   * Takes a buffer of at least `bytes` bytes (contents undefined when reused).
   *
   * @param bytes Requested size.
   * @param forUpload Whether the caller fills it with `queue.writeBuffer` before the pending
   *   commands are submitted (then only buffers released before the last submit qualify).
   * @returns A buffer with {@linkcode POOL_USAGE}.
   */
  acquire(bytes: number, forUpload = false): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.#free.get(size);
    let buffer: GPUBuffer | undefined;
    if (list && list.length > 0) {
      if (!forUpload) buffer = list.pop()!.buffer;
      else {
        for (let i = list.length - 1; i >= 0; i--) {
          if (list[i].epoch < this.#epoch) {
            buffer = list[i].buffer;
            list.splice(i, 1);
            break;
          }
        }
      }
    }
    if (buffer) {
      this.#pooled -= size;
      this.#reused++;
    } else {
      buffer = this.device.createBuffer({ size, usage: POOL_USAGE, label: `pool-${size}` });
      this.#sizes.set(buffer, size);
      this.#created++;
    }
    this.#live += size;
    this.#liveBuffers++;
    if (this.#live > this.#peak) this.#peak = this.#live;
    return buffer;
  }

  /** Returns a buffer obtained from {@linkcode acquire} to the pool. */
  release(buffer: GPUBuffer): void {
    const size = this.#sizes.get(buffer);
    if (size === undefined) {
      throw new Error("BufferPool.release: buffer does not belong to the pool");
    }
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push({ buffer, epoch: this.#epoch });
    this.#live -= size;
    this.#liveBuffers--;
    this.#pooled += size;
  }

  /** The size class of a pooled buffer (its real byte size). */
  sizeOf(buffer: GPUBuffer): number {
    return this.#sizes.get(buffer) ?? buffer.size;
  }

  /** Destroys every free buffer (live ones are untouched). */
  trim(): void {
    for (const list of this.#free.values()) for (const e of list) e.buffer.destroy();
    this.#free.clear();
    this.#pooled = 0;
  }

  /** Restarts the peak counter at the current live bytes. */
  resetPeak(): void {
    this.#peak = this.#live;
  }

  /** The current counters. */
  stats(): PoolStats {
    return {
      liveBytes: this.#live,
      peakBytes: this.#peak,
      pooledBytes: this.#pooled,
      liveBuffers: this.#liveBuffers,
      created: this.#created,
      reused: this.#reused,
    };
  }
}
