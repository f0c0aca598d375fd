/**
 * Exact squared Euclidean distance transform with anisotropic spacing: the separable
 * lower-envelope-of-parabolas algorithm of Felzenszwalb & Huttenlocher (linear time per
 * line). The first pass (innermost axis, contiguous) is the binary 1-D case: the distance
 * to the nearest feature voxel along the row, in two sweeps.
 *
 * @module
 */

/** Scratch buffers for the 1-D transform, sized for the longest line. */
interface Scratch {
  f: Float64Array;
  v: Int32Array;
  z: Float64Array;
}

function scratch(n: number): Scratch {
  return { f: new Float64Array(n), v: new Int32Array(n), z: new Float64Array(n + 1) };
}

/**
 * The 1-D transform of the line `g[base + i·stride]`, i < n, in place:
 * `g'(p) = min_q (s·(p−q))² + g(q)`, skipping infinite entries.
 */
function transformLine(
  g: Float64Array,
  base: number,
  stride: number,
  n: number,
  s: number,
  t: Scratch,
): void {
  const { f, v, z } = t;
  let k = -1;
  for (let q = 0, i = base; q < n; q++, i += stride) {
    const fq = g[i];
    f[q] = fq;
    if (fq === Infinity) continue;
    const xq = q * s;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    const fxq = fq + xq * xq;
    let vk = v[k];
    let xv = vk * s;
    let sect = (fxq - (f[vk] + xv * xv)) / (2 * (xq - xv));
    while (sect <= z[k]) {
      k--;
      vk = v[k];
      xv = vk * s;
      sect = (fxq - (f[vk] + xv * xv)) / (2 * (xq - xv));
    }
    k++;
    v[k] = q;
    z[k] = sect;
    z[k + 1] = Infinity;
  }
  if (k < 0) return; // no feature on this line: stays infinite
  k = 0;
  for (let q = 0, i = base; q < n; q++, i += stride) {
    const xq = q * s;
    while (z[k + 1] < xq) k++;
    // (q − v)·s rather than q·s − v·s: the distance scipy forms from the feature offset.
    const d = (q - v[k]) * s;
    g[i] = d * d + f[v[k]];
  }
}

/**
 * Squared distance (with spacing) from every voxel of an `nz×ny×nx` box to the nearest
 * voxel where `feature` is 1; Infinity when the box has no feature voxel.
 *
 * @param feature 0/1 per voxel, row-major.
 * @param dims `[nz, ny, nx]`.
 * @param spacing `[sz, sy, sx]`.
 * @param needColumn Optional: per `(y, x)` column, whether its values are needed; the last
 *   pass (along z) skips the others, which are then left partially transformed.
 * @returns The squared distances.
 */
export function squaredEdt(
  feature: Uint8Array,
  dims: readonly [number, number, number],
  spacing: readonly [number, number, number],
  needColumn?: Uint8Array,
): Float64Array {
  const [nz, ny, nx] = dims;
  const [sz, sy, sx] = spacing;
  const g = new Float64Array(nz * ny * nx);
  // Pass 1 (x, binary): distance in voxels to the nearest feature in the row.
  for (let r = 0; r < nz * ny; r++) {
    const base = r * nx;
    let last = -1;
    for (let x = 0; x < nx; x++) {
      if (feature[base + x]) {
        last = x;
        g[base + x] = 0;
      } else g[base + x] = last < 0 ? Infinity : x - last;
    }
    last = -1;
    for (let x = nx - 1; x >= 0; x--) {
      if (feature[base + x]) last = x;
      else if (last >= 0) {
        const d = last - x;
        if (!(g[base + x] <= d)) g[base + x] = d;
      }
    }
    for (let x = 0; x < nx; x++) {
      const d = g[base + x] * sx;
      g[base + x] = d * d;
    }
  }
  const t = scratch(Math.max(nz, ny, nx));
  // Pass 2 (y).
  if (ny > 1) {
    for (let zz = 0; zz < nz; zz++) {
      for (let x = 0; x < nx; x++) transformLine(g, zz * ny * nx + x, nx, ny, sy, t);
    }
  }
  // Pass 3 (z).
  if (nz > 1) {
    const plane = ny * nx;
    for (let c = 0; c < plane; c++) {
      if (needColumn && !needColumn[c]) continue;
      transformLine(g, c, plane, nz, sz, t);
    }
  }
  return g;
}
