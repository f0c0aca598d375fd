/**
 * Brute-force references for the tests: the surface by checking every voxel's neighbours
 * on the whole array, and surface distances by an O(n·m) minimum over all pairs.
 *
 * @module
 */

/** medpy's surface on the whole array, by definition (rank 1..3, row-major). */
export function bruteSurface(mask: ArrayLike<number>, shape: readonly number[]): Uint8Array {
  const rank = shape.length;
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    let edge = false;
    for (let axis = 0; axis < rank && !edge; axis++) {
      const coord = Math.floor(i / strides[axis]) % shape[axis];
      for (const step of [-1, 1]) {
        const c = coord + step;
        if (c < 0 || c >= shape[axis] || !mask[i + step * strides[axis]]) edge = true;
      }
    }
    if (edge) out[i] = 1;
  }
  return out;
}

function coords(i: number, shape: readonly number[]): number[] {
  const out = new Array(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    out[a] = i % shape[a];
    i = Math.floor(i / shape[a]);
  }
  return out;
}

/** Distances from each `from` surface voxel (raster order) to the nearest `to` one. */
export function bruteDistances(
  from: Uint8Array,
  to: Uint8Array,
  shape: readonly number[],
  spacing: readonly number[],
): number[] {
  const targets: number[][] = [];
  for (let i = 0; i < to.length; i++) if (to[i]) targets.push(coords(i, shape));
  const out: number[] = [];
  for (let i = 0; i < from.length; i++) {
    if (!from[i]) continue;
    const p = coords(i, shape);
    let best = Infinity;
    for (const t of targets) {
      let d2 = 0;
      for (let a = 0; a < shape.length; a++) {
        const d = (p[a] - t[a]) * spacing[a];
        d2 += d * d;
      }
      if (d2 < best) best = d2;
    }
    out.push(Math.sqrt(best));
  }
  return out;
}

/** A seeded generator (mulberry32) for reproducible random volumes. */
export { mulberry32 as rng } from "../../../tools/testing.ts";

/** A random blob-ish mask: a few random boxes, so surfaces are not just noise. */
export function randomMask(shape: readonly number[], random: () => number, boxes = 3): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(n);
  for (let b = 0; b < boxes; b++) {
    const lo = shape.map((d) => Math.floor(random() * d));
    const hi = shape.map((d, a) => Math.min(d, lo[a] + 1 + Math.floor(random() * d * 0.6)));
    for (let i = 0; i < n; i++) {
      const c = coords(i, shape);
      if (c.every((x, a) => x >= lo[a] && x < hi[a])) out[i] = 1;
    }
  }
  // Sprinkle single voxels too: isolated points are their own surface.
  for (let k = 0; k < 3; k++) out[Math.floor(random() * n)] = 1;
  return out;
}
