/**
 * WGSL generators of the matmul kernels, with tile shapes as template parameters:
 * a register-blocked vec4 kernel without workgroup memory (fast on CPU adapters such as
 * lavapipe), a shared-memory tiled kernel (real GPUs) and a strided scalar fallback.
 *
 * All compute `C[z] = op(A[z]) · op(B[z])` with `op` = transpose when flagged, for batch
 * index `z` = workgroup id z decomposed over the broadcast batch shape.
 *
 * Every kernel reads the params of {@linkcode MATMUL_PARAMS}.
 *
 * @module
 */

/** Tile shape of the register-blocked kernel. */
export interface RegisterTile {
  /** Output rows per invocation (multiple of 4 when `transA`). */
  tm: number;
  /** Output columns per invocation (multiple of 4). */
  tn: number;
  /** Workgroup size along columns. */
  wx: number;
  /** Workgroup size along rows. */
  wy: number;
}

/** Tile shape of the shared-memory kernel. */
export interface SharedTile {
  /** Rows per invocation. */
  tm: number;
  /** Columns per invocation. */
  tn: number;
  /** Workgroup size along columns (block tile N = wx·tn). */
  wx: number;
  /** Workgroup size along rows (block tile M = wy·tm). */
  wy: number;
  /** Depth of the shared tiles. */
  bk: number;
}

/**
 * Params of every matmul kernel: the sizes, the batch shape (≤ 6 dims) with each operand's
 * batch strides, and the element strides of A along m and k and of B along k and n.
 */
export const MATMUL_PARAMS = {
  M: "u32",
  N: "u32",
  K: "u32",
  rank: "u32",
  batch: ["u32", 6],
  sa: ["u32", 6],
  sb: ["u32", 6],
  sam: "u32",
  sak: "u32",
  sbk: "u32",
  sbn: "u32",
} as const;

const BATCH = `
fn batchOffsets(z: u32) -> vec2<u32> {
  var rem = z; var oa = 0u; var ob = 0u;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let sz = params.batch[d]; let q = rem % sz; rem = rem / sz;
    oa += q * params.sa[d]; ob += q * params.sb[d];
  }
  return vec2<u32>(oa, ob);
}`;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Register-blocked vec4 matmul: each invocation computes a `tm × tn` block of C held in
 * `tm·tn/4` vec4 registers; no workgroup memory, no barriers. Operand layouts get their own
 * code paths (no per-element branching): NN and NT step k by 4 with vec4 loads along k of
 * A; TN steps k by 1 with vec4 loads along m of Aᵀ; NT/TT load vec4 along k of Bᵀ.
 *
 * Requirements (checked by the caller): N % 4 = 0; K % 4 = 0 unless (transA and not
 * transB); M % 4 = 0 when transA.
 */
export function registerMatmulWgsl(t: RegisterTile, transA: boolean, transB: boolean): string {
  const { tm, tn } = t;
  const nv = tn / 4;
  const acc = range(tm).flatMap((i) => range(nv).map((j) => `var c${i}_${j} = vec4<f32>(0.0);`));
  // Clamped row/column indices for loads; stores are guarded.
  const rows = range(tm).map((i) => `let mr${i} = min(m0 + ${i}u, M - 1u);`);
  const colsV = range(nv).map((j) => `let nv${j} = min(n0 / 4u + ${j}u, N / 4u - 1u);`);
  const colsS = range(tn).map((j) => `let nc${j} = min(n0 + ${j}u, N - 1u);`);
  let loop: string;
  if (!transA && !transB) {
    // a_i: A[m_i, k..k+3]; b_kk_j: B[k+kk, 4 cols]
    loop = `for (var k = 0u; k < K; k += 4u) {
    ${range(tm).map((i) => `let a${i} = A[(oa + mr${i} * K + k) / 4u];`).join(" ")}
    ${
      range(4).flatMap((kk) =>
        range(nv).map((j) => `let b${kk}_${j} = B[(ob + (k + ${kk}u) * N) / 4u + nv${j}];`)
      ).join(" ")
    }
    ${
      range(tm).flatMap((i) =>
        range(nv).map((j) =>
          `c${i}_${j} += a${i}.x * b0_${j} + a${i}.y * b1_${j} + a${i}.z * b2_${j} + a${i}.w * b3_${j};`
        )
      ).join("\n    ")
    }
  }`;
  } else if (transA && !transB) {
    // Aᵀ stored (K, M): vec4 along m. K needs no alignment.
    loop = `for (var k = 0u; k < K; k++) {
    ${range(tm / 4).map((q) => `let a${q} = A[(oa + k * M + m0) / 4u + ${q}u];`).join(" ")}
    ${range(nv).map((j) => `let b${j} = B[(ob + k * N) / 4u + nv${j}];`).join(" ")}
    ${
      range(tm).flatMap((i) =>
        range(nv).map((j) => `c${i}_${j} += a${Math.floor(i / 4)}[${i % 4}] * b${j};`)
      )
        .join("\n    ")
    }
  }`;
  } else {
    // Bᵀ stored (N, K): vec4 along k for each of the tn columns.
    const aLoads = transA
      ? range(4).flatMap((kk) =>
        range(tm / 4).map((q) => `let at${kk}_${q} = A[(oa + (k + ${kk}u) * M + m0) / 4u + ${q}u];`)
      )
        .concat(
          range(tm).map((i) =>
            `let a${i} = vec4<f32>(${
              range(4).map((kk) => `at${kk}_${Math.floor(i / 4)}[${i % 4}]`).join(", ")
            });`
          ),
        ).join(" ")
      : range(tm).map((i) => `let a${i} = A[(oa + mr${i} * K + k) / 4u];`).join(" ");
    loop = `for (var k = 0u; k < K; k += 4u) {
    ${aLoads}
    ${range(tn).map((j) => `let b${j} = B[(ob + nc${j} * K + k) / 4u];`).join(" ")}
    ${
      range(tm).flatMap((i) =>
        range(nv).map((j) =>
          `c${i}_${j} += vec4<f32>(${range(4).map((q) => `dot(a${i}, b${4 * j + q})`).join(", ")});`
        )
      ).join("\n    ")
    }
  }`;
  }
  const stores = range(tm).map((i) =>
    `if (m0 + ${i}u < M) { ${
      range(nv).map((j) =>
        `if (n0 + ${4 * j}u < N) { C[(oc + (m0 + ${i}u) * N + n0) / 4u + ${j}u] = c${i}_${j}; }`
      )
        .join(" ")
    } }`
  );
  return `${BATCH}
// Invocation (x, y) of batch z computes C[z][m0 .. m0+${tm}, n0 .. n0+${tn}] in registers.
@compute @workgroup_size(${t.wx}, ${t.wy})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M; let N = params.N; let K = params.K;
  let n0 = gid.x * ${tn}u;
  ${
    // With one row of invocations per workgroup the rows are uniform across the workgroup,
    // so a CPU adapter loads A once per SIMD batch instead of once per lane.
    t.wy === 1 ? `let m0 = wid.y * ${tm}u;` : `let m0 = gid.y * ${tm}u;`}
  if (n0 >= N || m0 >= M) { return; }
  let offs = batchOffsets(gid.z);
  let oa = offs.x; let ob = offs.y; let oc = gid.z * M * N;
  ${rows.join(" ")}
  ${colsV.join(" ")}
  ${transB ? colsS.join(" ") : ""}
  ${acc.join(" ")}
  ${loop}
  ${stores.join("\n  ")}
}`;
}

/**
 * Register-blocked matmul for any K and any layout of A: A is read as strided scalars
 * (`sam`, `sak`), uniform across the workgroup when `wy = 1` (so cheap on CPU adapters), B
 * as vec4 rows (not transposed, N % 4 = 0); k steps by 1. Used where the vec4 kernel cannot
 * take the sizes, e.g. K = dt_rank = 6 or a transposed A with M % 4 ≠ 0.
 */
export function registerScalarAWgsl(t: RegisterTile): string {
  const { tm, tn } = t;
  const nv = tn / 4;
  const acc = range(tm).flatMap((i) => range(nv).map((j) => `var c${i}_${j} = vec4<f32>(0.0);`));
  return `${BATCH}
// Invocation (x, y) of batch z computes C[z][m0 .. m0+${tm}, n0 .. n0+${tn}] in registers.
@compute @workgroup_size(${t.wx}, ${t.wy})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = params.M; let N = params.N; let K = params.K;
  let sam = params.sam; let sak = params.sak;
  let n0 = gid.x * ${tn}u;
  ${t.wy === 1 ? `let m0 = wid.y * ${tm}u;` : `let m0 = gid.y * ${tm}u;`}
  if (n0 >= N || m0 >= M) { return; }
  let offs = batchOffsets(gid.z);
  let oa = offs.x; let ob = offs.y; let oc = gid.z * M * N;
  ${range(tm).map((i) => `let ra${i} = oa + min(m0 + ${i}u, M - 1u) * sam;`).join(" ")}
  ${range(nv).map((j) => `let nv${j} = min(n0 / 4u + ${j}u, N / 4u - 1u);`).join(" ")}
  ${acc.join(" ")}
  for (var k = 0u; k < K; k++) {
    ${range(tm).map((i) => `let a${i} = A[ra${i} + k * sak];`).join(" ")}
    ${range(nv).map((j) => `let b${j} = B[(ob + k * N) / 4u + nv${j}];`).join(" ")}
    ${range(tm).flatMap((i) => range(nv).map((j) => `c${i}_${j} += a${i} * b${j};`)).join(" ")}
  }
  ${
    range(tm).map((i) =>
      `if (m0 + ${i}u < M) { ${
        range(nv).map((j) =>
          `if (n0 + ${4 * j}u < N) { C[(oc + (m0 + ${i}u) * N + n0) / 4u + ${j}u] = c${i}_${j}; }`
        )
          .join(" ")
      } }`
    ).join("\n  ")
  }
}`;
}

/**
 * Shared-memory tiled matmul: a workgroup computes a `(wy·tm) × (wx·tn)` block of C,
 * staging `bk`-deep tiles of A and B in workgroup memory (A stored k-major so both inner
 * reads are contiguous across the workgroup); each invocation accumulates a `tm × tn` block
 * in named registers (fully unrolled: no dynamically indexed local arrays, which drivers
 * put in slow local memory). Operands are read through element strides, with the
 * global→shared mapping chosen per layout so consecutive invocations read consecutive
 * addresses; every transpose combination and any size work.
 */
export function sharedMatmulWgsl(t: SharedTile, transA: boolean, transB: boolean): string {
  const { tm, tn, wx, wy, bk } = t;
  const bm = wy * tm, bn = wx * tn, threads = wx * wy;
  const aMap = transA
    ? `let r = e % ${bm}u; let kk = e / ${bm}u;`
    : `let r = e / ${bk}u; let kk = e % ${bk}u;`;
  const bMap = transB
    ? `let kk = e % ${bk}u; let c = e / ${bk}u;`
    : `let kk = e / ${bn}u; let c = e % ${bn}u;`;
  // Invocation tid stages elements tid, tid + threads, … of a tile of `count` elements:
  // `map` turns element e into tile coordinates, `store` writes it to workgroup memory.
  const tileLoads = (count: number, map: string, store: string) =>
    range(Math.ceil(count / threads)).map((l) =>
      `{
      let e = tid + ${l * threads}u;
      if (e < ${count}u) {
        ${map}
        ${store}
      }
    }`
    ).join("\n    ");
  const aLoads = tileLoads(
    bm * bk,
    aMap,
    `let m = bm0 + r; let k = k0 + kk;
        As[kk * ${bm}u + r] = select(0.0, A[offs.x + min(m, M - 1u) * sam + min(k, K - 1u) * sak], m < M && k < K);`,
  );
  const bLoads = tileLoads(
    bk * bn,
    bMap,
    `let n = bn0 + c; let k = k0 + kk;
        Bs[kk * ${bn}u + c] = select(0.0, B[offs.y + min(k, K - 1u) * sbk + min(n, N - 1u) * sbn], n < N && k < K);`,
  );
  const acc = range(tm).flatMap((i) => range(tn).map((j) => `var c${i}_${j} = 0.0;`)).join(" ");
  const inner = [
    ...range(tm).map((i) => `let a${i} = As[kk * ${bm}u + lid.y + ${i * wy}u];`),
    ...range(tn).map((j) => `let b${j} = Bs[kk * ${bn}u + lid.x + ${j * wx}u];`),
    ...range(tm).flatMap((i) => range(tn).map((j) => `c${i}_${j} += a${i} * b${j};`)),
  ].join(" ");
  const stores = range(tm).flatMap((i) =>
    range(tn).map((j) =>
      `{ let m = bm0 + lid.y + ${i * wy}u; let n = bn0 + lid.x + ${
        j * wx
      }u; if (m < M && n < N) { C[oc + m * N + n] = c${i}_${j}; } }`
    )
  ).join("\n  ");
  return `${BATCH}
var<workgroup> As: array<f32, ${bm * bk}>;
var<workgroup> Bs: array<f32, ${bk * bn}>;
// Workgroup (x, y) of batch z computes C[z][${bm}·y .., ${bn}·x ..]; invocation (tx, ty)
// owns rows ty + ${wy}·i and columns tx + ${wx}·j of that block.
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M; let N = params.N; let K = params.K;
  let sam = params.sam; let sak = params.sak; let sbk = params.sbk; let sbn = params.sbn;
  let offs = batchOffsets(wid.z);
  let oc = wid.z * M * N;
  let bm0 = wid.y * ${bm}u; let bn0 = wid.x * ${bn}u;
  let tid = lid.y * ${wx}u + lid.x;
  ${acc}
  for (var k0 = 0u; k0 < K; k0 += ${bk}u) {
    ${aLoads}
    ${bLoads}
    workgroupBarrier();
    for (var kk = 0u; kk < ${bk}u; kk++) {
      ${inner}
    }
    workgroupBarrier();
  }
  ${stores}
}`;
}

/**
 * Strided scalar fallback: each invocation computes a 4×4 block through element strides
 * (any sizes, any transposes).
 */
export function scalarMatmulWgsl(wx: number, wy: number): string {
  return `${BATCH}
// Invocation (x, y) of batch z computes C[z][4y .. 4y+4, 4x .. 4x+4] with strided loads.
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = params.M; let N = params.N; let K = params.K;
  let sam = params.sam; let sak = params.sak; let sbk = params.sbk; let sbn = params.sbn;
  let n0 = gid.x * 4u; let m0 = gid.y * 4u;
  if (n0 >= N || m0 >= M) { return; }
  let offs = batchOffsets(gid.z);
  let oc = gid.z * M * N;
  var acc: array<vec4<f32>, 4>;
  var ra: array<u32, 4>; var cb: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) {
    ra[i] = offs.x + min(m0 + i, M - 1u) * sam;
    cb[i] = offs.y + min(n0 + i, N - 1u) * sbn;
    acc[i] = vec4<f32>(0.0);
  }
  for (var k = 0u; k < K; k++) {
    let b = vec4<f32>(B[cb[0] + k * sbk], B[cb[1] + k * sbk], B[cb[2] + k * sbk], B[cb[3] + k * sbk]);
    for (var i = 0u; i < 4u; i++) { acc[i] += A[ra[i] + k * sak] * b; }
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m < M) {
      for (var j = 0u; j < 4u; j++) { if (n0 + j < N) { C[oc + m * N + n0 + j] = acc[i][j]; } }
    }
  }
}`;
}
