/**
 * The four dt-projections of SS2D straight on the packed `x_dbl (B·L, 4, R + 2N)` layout,
 * with their backward: `delta[p, k, d] = Σ_r W[k, d, r]·x_dbl[p, k, r]` written as
 * `(B·L, 4, Di)` — the layout the cross-scan reads — without slicing the dt rows out or
 * transposing anything of size `B·L`. Register-blocked vec4 kernels without workgroup
 * memory (fast on CPU adapters, fine on GPUs).
 *
 * @module
 */

import type { Engine, Tensor } from "@vmunet/tensor";

const WG = 64;
/** Positions per partial sum of the weight gradient. */
const POSITIONS_PER_CHUNK = 256;

/**
 * The `positions`×4 register block (of vec4s) of the forward kernel, spelled out (no private
 * arrays).
 */
function unrolled(positions: number): string {
  const lines: string[] = [];
  for (let j = 0; j < positions; j++) {
    for (let q = 0; q < 4; q++) lines.push(`var a${j}${q} = vec4<f32>(0.0);`);
  }
  lines.push("for (var r = 0u; r < R; r++) {");
  lines.push("  let wb = (k * R + r) * D4;");
  lines.push(
    "  let w0 = WT[wb + d0]; let w1 = WT[wb + e1]; let w2 = WT[wb + e2]; let w3 = WT[wb + e3];",
  );
  const pos = ["p0", "q1", "q2", "q3"], ch = ["d0", "e1", "e2", "e3"];
  for (let j = 0; j < positions; j++) {
    lines.push(`  let x${j} = X[(${pos[j]} * 4u + k) * P + r];`);
  }
  for (let j = 0; j < positions; j++) {
    lines.push("  " + [0, 1, 2, 3].map((q) => `a${j}${q} += w${q} * x${j};`).join(" "));
  }
  lines.push("}");
  for (let j = 0; j < positions; j++) {
    for (let q = 0; q < 4; q++) {
      lines.push(
        `if (p0 + ${j}u < rows && d0 + ${q}u < D4) { OUT[(${pos[j]} * 4u + k) * D4 + ${
          ch[q]
        }] = a${j}${q}; }`,
      );
    }
  }
  return lines.join("\n  ");
}

/**
 * Dt rows per invocation of the input-gradient kernel: 8, 6 or 4, whichever wastes the
 * fewest rows on R (ties: the larger). Each ∂delta load then serves up to 8 rows (measured
 * 1.3× faster over SS2D's four R than 4 rows on lavapipe).
 */
export function dtRowsPerInvocation(r: number): number {
  let best = 8;
  for (const q of [6, 4]) if (Math.ceil(r / q) * q < Math.ceil(r / best) * best) best = q;
  return best;
}

/** The 4 positions × q dt rows block of the input-gradient kernel, spelled out. */
function unrolledBackwardInput(q: number): string {
  const lines: string[] = [];
  const pos = ["p0", "q1", "q2", "q3"];
  const rr = Array.from({ length: q }, (_, j) => `s${j}`);
  for (let j = 0; j < q; j++) lines.push(`let s${j} = min(r0 + ${j}u, R - 1u);`);
  for (let j = 0; j < 4; j++) {
    for (let e = 0; e < q; e++) lines.push(`var a${j}${e} = 0.0;`);
  }
  lines.push("for (var d = 0u; d < D4; d++) {");
  lines.push(
    "  let g0 = G[(p0 * 4u + k) * D4 + d]; let g1 = G[(q1 * 4u + k) * D4 + d];",
    "  let g2 = G[(q2 * 4u + k) * D4 + d]; let g3 = G[(q3 * 4u + k) * D4 + d];",
  );
  for (let e = 0; e < q; e++) lines.push(`  let w${e} = WT[(k * R + ${rr[e]}) * D4 + d];`);
  for (let j = 0; j < 4; j++) {
    lines.push(
      "  " + Array.from({ length: q }, (_, e) => `a${j}${e} += dot(g${j}, w${e});`).join(" "),
    );
  }
  lines.push("}");
  for (let j = 0; j < 4; j++) {
    for (let e = 0; e < q; e++) {
      lines.push(
        `if (p0 + ${j}u < rows && r0 + ${e}u < R) { DX[(${pos[j]} * 4u + k) * P + ${
          rr[e]
        }] = a${j}${e}; }`,
      );
    }
  }
  return lines.join("\n  ");
}

/** The 4 dt rows × 16 channels block of the weight-gradient kernel, spelled out. */
function unrolledBackwardWeight(): string {
  const lines: string[] = [];
  for (let q = 0; q < 4; q++) {
    for (let e = 0; e < 4; e++) lines.push(`var a${q}${e} = vec4<f32>(0.0);`);
  }
  lines.push(
    "for (var p = c * per; p < pEnd; p++) {",
    "  let gb = (p * 4u + k) * D4; let xb = (p * 4u + k) * P;",
    "  let g0 = G[gb + d0]; let g1 = G[gb + e1]; let g2 = G[gb + e2]; let g3 = G[gb + e3];",
    "  let x0 = X[xb + r0]; let x1 = X[xb + s1]; let x2 = X[xb + s2]; let x3 = X[xb + s3];",
  );
  for (let q = 0; q < 4; q++) {
    lines.push("  " + [0, 1, 2, 3].map((e) => `a${q}${e} += g${e} * x${q};`).join(" "));
  }
  lines.push("}", "let o = (c * 4u + k) * R;");
  const rr = ["r0", "s1", "s2", "s3"], dd = ["d0", "e1", "e2", "e3"];
  for (let q = 0; q < 4; q++) {
    for (let e = 0; e < 4; e++) {
      lines.push(
        `if (r0 + ${q}u < R && d0 + ${e}u < D4) { PART[(o + ${rr[q]}) * D4 + ${
          dd[e]
        }] = a${q}${e}; }`,
      );
    }
  }
  return lines.join("\n  ");
}

/** Sizes shared by the kernels. */
export interface DtSizes {
  /** Positions B·L. */
  rows: number;
  /** Inner channels Di (a multiple of 4). */
  channels: number;
  /** dt rank R. */
  dtRank: number;
  /** Record length of x_dbl, R + 2N. */
  record: number;
}

/**
 * Positions per invocation of {@linkcode dtProjectionForward}: 4 on CPU adapters (the
 * weight loads serve four positions), 1 on GPUs (four times the invocations: 196,608 at
 * VM-UNet's stage-1 shape and batch 1 instead of 49,152).
 */
export function dtProjectionPositions(cpuAdapter: boolean): 1 | 4 {
  return cpuAdapter ? 4 : 1;
}

/**
 * Invocations of {@linkcode dtProjectionForward} (one per `positions` positions × direction
 * × 16 channels; workgroups of {@linkcode DT_PROJECTION_WORKGROUP}).
 */
export function dtProjectionForwardInvocations(s: DtSizes, positions: number): number {
  return Math.ceil(s.rows / positions) * 4 * Math.ceil(s.channels / 16);
}

/** Workgroup size of the dt-projection kernels. */
export const DT_PROJECTION_WORKGROUP = WG;

/** The {@linkcode DtSizes} as the kernels declare them, and their host-side values. */
const SIZE_PARAMS = { rows: "u32", R: "u32", P: "u32", D4: "u32" } as const;
const SIZE_LETS = "let rows = params.rows; let R = params.R; let P = params.P; let D4 = params.D4;";
function sizeParams(s: DtSizes): { rows: number; R: number; P: number; D4: number } {
  return { rows: s.rows, R: s.dtRank, P: s.record, D4: s.channels / 4 };
}

/**
 * The WGSL of a dt-projection kernel: `comments`, then the entry point (workgroups of
 * {@linkcode DT_PROJECTION_WORKGROUP}, linear invocation index `i`) running `body`.
 */
function kernelCode(comments: string, body: string): string {
  return `
${comments}@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = lin(gid, nwg, ${WG}u);
  ${body}
}`;
}

/**
 * `delta (rows, 4, Di) = per-direction x_dbl[:, k, :R] · W[k]ᵀ`.
 *
 * @param engine The engine.
 * @param xDbl `(…, 4, R + 2N)` with `rows` leading positions.
 * @param wT `(4, R, Di)`: `dt_projs_weight` transposed.
 * @param s Sizes.
 * @param shape Shape of the output (`(B, H, W, 4, Di)`).
 * @param positions Positions per invocation (default {@linkcode dtProjectionPositions}).
 * @returns delta.
 */
export function dtProjectionForward(
  engine: Engine,
  xDbl: Tensor,
  wT: Tensor,
  s: DtSizes,
  shape: readonly number[],
  positions: 1 | 4 = dtProjectionPositions(engine.isCpuAdapter),
): Tensor {
  const out = engine.empty(shape);
  const kernel = engine.kernel(`ss2d.dt_proj.fwd${positions}`, () => ({
    params: SIZE_PARAMS,
    bindings: [
      { name: "X" },
      { name: "WT", type: "array<vec4<f32>>" },
      { name: "OUT", access: "read_write", type: "array<vec4<f32>>" },
    ],
    code: kernelCode(
      /* wgsl */ `// One invocation per (${positions} positions, direction k, 16 channels): a ${positions}×16 block of
// delta. Consecutive invocations take consecutive position blocks (W loads are shared by the
// workgroup; measured 2× faster on lavapipe than channel-fastest 4×4 blocks).
`,
      /* wgsl */ `${SIZE_LETS}
  let np = (rows + ${positions - 1}u) / ${positions}u;
  let nd = (D4 + 3u) / 4u;
  if (i >= np * 4u * nd) { return; }
  let pb = i % np; let k = (i / np) % 4u; let d0 = (i / (np * 4u)) * 4u;
  let p0 = pb * ${positions}u;
  ${
        positions === 4
          ? "let q1 = min(p0 + 1u, rows - 1u); let q2 = min(p0 + 2u, rows - 1u); let q3 = min(p0 + 3u, rows - 1u);"
          : ""
      }
  let e1 = min(d0 + 1u, D4 - 1u); let e2 = min(d0 + 2u, D4 - 1u); let e3 = min(d0 + 3u, D4 - 1u);
  ${unrolled(positions)}`,
    ),
  }));
  engine.dispatch({
    kernel,
    bindings: [xDbl, wT, out],
    params: sizeParams(s),
    workgroups: engine.grid(dtProjectionForwardInvocations(s, positions), WG),
    op: "ss2d.dtProjection",
  });
  return out;
}

/**
 * Writes `∂x_dbl[p, k, r] = Σ_d ∂delta[p, k, d]·W[k, d, r]` into the dt rows of `dxDbl`
 * (the B and C rows are left as they are).
 *
 * @param engine The engine.
 * @param dDelta `(rows, 4, Di)`.
 * @param wT `(4, R, Di)`.
 * @param dxDbl The x_dbl-shaped gradient buffer, written in place.
 * @param s Sizes.
 */
export function dtProjectionBackwardInput(
  engine: Engine,
  dDelta: Tensor,
  wT: Tensor,
  dxDbl: Tensor,
  s: DtSizes,
): void {
  const q = dtRowsPerInvocation(s.dtRank);
  const key = `ss2d.dt_proj.bwd_x.${q}`;
  const kernel = engine.kernel(key, () => ({
    params: SIZE_PARAMS,
    bindings: [
      { name: "G", type: "array<vec4<f32>>" },
      { name: "WT", type: "array<vec4<f32>>" },
      { name: "DX", access: "read_write" },
    ],
    code: kernelCode(
      /* wgsl */ `// One invocation per (4 positions, direction k, ${q} dt rows): ${
        4 * q
      } dot products over Di.
// Consecutive invocations take consecutive position blocks (W loads shared by the workgroup).
`,
      /* wgsl */ `${SIZE_LETS}
  let np = (rows + 3u) / 4u; let nr = (R + ${q - 1}u) / ${q}u;
  if (i >= np * 4u * nr) { return; }
  let pb = i % np; let k = (i / np) % 4u; let r0 = (i / (np * 4u)) * ${q}u;
  let p0 = pb * 4u;
  let q1 = min(p0 + 1u, rows - 1u); let q2 = min(p0 + 2u, rows - 1u); let q3 = min(p0 + 3u, rows - 1u);
  ${unrolledBackwardInput(q)}`,
    ),
  }));
  const n = Math.ceil(s.rows / 4) * 4 * Math.ceil(s.dtRank / q);
  engine.dispatch({
    kernel,
    bindings: [dDelta, wT, dxDbl],
    params: sizeParams(s),
    workgroups: engine.grid(n, WG),
    op: "ss2d.dtProjection.backward",
  });
}

/**
 * `∂W[k, d, r] = Σ_p ∂delta[p, k, d]·x_dbl[p, k, r]`: per-chunk partial sums, then one
 * pass that sums the chunks and transposes to `dt_projs_weight`'s `(4, Di, R)`.
 *
 * @param engine The engine.
 * @param dDelta `(rows, 4, Di)`.
 * @param xDbl The packed projection.
 * @param s Sizes.
 * @returns `(4, Di, R)`.
 */
export function dtProjectionBackwardWeight(
  engine: Engine,
  dDelta: Tensor,
  xDbl: Tensor,
  s: DtSizes,
): Tensor {
  const kernel = engine.kernel("ss2d.dt_proj.bwd_w", () => ({
    params: { ...SIZE_PARAMS, chunks: "u32", per: "u32" },
    bindings: [
      { name: "G", type: "array<vec4<f32>>" },
      { name: "X" },
      { name: "PART", access: "read_write", type: "array<vec4<f32>>" },
    ],
    code: kernelCode(
      /* wgsl */ `// One invocation per (position chunk c, direction k, 4 dt rows, 16 channels): a 4×16 block
// of the weight gradient summed over the chunk's positions.
`,
      /* wgsl */ `${SIZE_LETS}
  let chunks = params.chunks; let per = params.per; let nr = (R + 3u) / 4u; let nd = (D4 + 3u) / 4u;
  if (i >= chunks * 4u * nr * nd) { return; }
  let d0 = (i % nd) * 4u; let r0 = ((i / nd) % nr) * 4u;
  let k = (i / (nd * nr)) % 4u; let c = i / (nd * nr * 4u);
  let s1 = min(r0 + 1u, R - 1u); let s2 = min(r0 + 2u, R - 1u); let s3 = min(r0 + 3u, R - 1u);
  let e1 = min(d0 + 1u, D4 - 1u); let e2 = min(d0 + 2u, D4 - 1u); let e3 = min(d0 + 3u, D4 - 1u);
  let pEnd = min(rows, (c + 1u) * per);
  ${unrolledBackwardWeight()}`,
    ),
  }));
  const d4 = s.channels / 4;
  const chunks = Math.max(1, Math.ceil(s.rows / POSITIONS_PER_CHUNK));
  const per = Math.ceil(s.rows / chunks);
  const part = engine.empty([chunks, 4, s.dtRank, s.channels]);
  engine.dispatch({
    kernel,
    bindings: [dDelta, xDbl, part],
    params: { ...sizeParams(s), chunks, per },
    workgroups: engine.grid(chunks * 4 * Math.ceil(s.dtRank / 4) * Math.ceil(d4 / 4), WG),
    op: "ss2d.dtProjection.backwardWeight",
  });
  // Sum over chunks and transpose (4, R, Di) → (4, Di, R) in one pass: invocation
  // (k, r, 4 channels) adds the chunks' vec4s and stores four scalars.
  const dW = engine.empty([4, s.channels, s.dtRank]);
  const reduce = engine.kernel("ss2d.dt_proj.bwd_w_sum", () => ({
    params: { R: "u32", D4: "u32", chunks: "u32" },
    bindings: [
      { name: "PART", type: "array<vec4<f32>>" },
      { name: "DW", access: "read_write" },
    ],
    code: kernelCode(
      "",
      /* wgsl */ `let R = params.R; let D4 = params.D4; let chunks = params.chunks;
  if (i >= 4u * R * D4) { return; }
  let d4 = i % D4; let kr = i / D4; let k = kr / R; let r = kr % R;
  var acc = vec4<f32>(0.0);
  for (var c = 0u; c < chunks; c++) { acc += PART[(c * 4u * R + kr) * D4 + d4]; }
  let o = (k * D4 * 4u + d4 * 4u) * R + r;
  DW[o] = acc.x; DW[o + R] = acc.y; DW[o + 2u * R] = acc.z; DW[o + 3u * R] = acc.w;`,
    ),
  }));
  engine.dispatch({
    kernel: reduce,
    bindings: [part, dW],
    params: { R: s.dtRank, D4: d4, chunks },
    workgroups: engine.grid(4 * s.dtRank * d4, WG),
    op: "ss2d.dtProjection.backwardWeight",
  });
  return dW;
}
