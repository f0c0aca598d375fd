/**
 * The CPU family's forward kernels: `serial-row` (one invocation per row walking L, with a
 * vec4-along-the-row variant for the generic layout and an inference variant that projects Δ
 * from the dt rows itself) and `workgroup-scan` (one workgroup per row, a Hillis–Steele scan).
 *
 * @module
 */

import {
  BINDINGS_IN,
  header,
  type KernelDims,
  type KernelLayout,
  type KernelTuning,
  repeat,
  u,
  vec4Of,
} from "./_wgsl_header.ts";
import { aLoad, channelEntry, loadBC } from "./_wgsl_rows.ts";

/**
 * Where the forward reads the dt rows when it projects Δ itself: the dt rows of position p,
 * direction k start at `offset + ((b·L + p)·4 + k)·stride` of the buffer bound as `DL`
 * (x_dbl), and the weight `(4, Di, rank)` is bound as `WDT`.
 */
export interface DtSlot {
  /** dt rank R. */
  rank: number;
  /** Element offset of the first record's dt rows. */
  offset: number;
  /** Elements between consecutive (position, direction) records. */
  stride: number;
}

/**
 * Statements computing `z = Σ_r W[k, d, r]·dt[p, k, r]` (the dt projection, summed in r
 * order) from the dt rows of position `p`: loaded once per subgroup and broadcast when
 * subgroups are available (the rows are the same for every channel).
 */
function projectedDelta(dt: DtSlot, sgw: number, indent: string): string {
  const out = [`${indent}let xb = ${u(dt.offset)} + ((b * L + p) * 4u + k) * ${u(dt.stride)};`];
  const R = dt.rank;
  if (sgw > 0) {
    for (let i = 0; i < Math.ceil(R / sgw); i++) {
      out.push(`${indent}let xl${i} = DL[xb + min(sgi % ${u(sgw)} + ${u(i * sgw)}, ${u(R - 1)})];`);
    }
  }
  out.push(`${indent}var z = 0.0;`);
  for (let r = 0; r < R; r++) {
    const x = sgw > 0
      ? `subgroupBroadcast(xl${Math.floor(r / sgw)}, ${u(r % sgw)})`
      : `DL[xb + ${u(r)}]`;
    out.push(`${indent}z = z + w${r} * ${x};`);
  }
  return out.join("\n");
}

/**
 * Forward kernel. Mapping: one invocation per (batch, channel d); workgroup x = slice of WG
 * consecutive channels of one group, y = parallel group, z = batch. Each invocation walks its
 * row serially over L (looping over `KSER` directions, accumulating the output in place),
 * keeps the N states as vec4 registers, and stores the state at every chunk end (unless
 * `saveState` is false: an inference forward that no backward follows).
 */
export function forwardWgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  saveState = true,
  dt?: DtSlot,
): string {
  // Binding 8 holds either the checkpoints or the dt weight (inference only).
  if (dt && saveState) throw new Error("forwardWgsl: a projected-Δ forward stores no state");
  const N = l.dState;
  const sgw = t.subgroupWidth;
  const store = t.serialGroups > 1
    ? `if (ks == 0u) { OUT[io] = y; } else { OUT[io] = OUT[io] + y; }`
    : `OUT[io] = y;`;
  return header(l, t, m) + BINDINGS_IN + `
@group(0) @binding(7) var<storage, read_write> OUT: array<f32>;
${saveState ? "@group(0) @binding(8) var<storage, read_write> CK: array<vec4<f32>>;" : ""}
${dt ? "@group(0) @binding(8) var<storage, read> WDT: array<f32>;" : ""}
${channelEntry(t, "forward", true)}
${repeat(m.nv, (j) => `    let a${j} = ${aLoad(j, N)} * LOG2E;\n    var h${j} = vec4<f32>(0.0);`)}
    let dc = DD[c];
    let bias = BIAS[c];
${dt ? repeat(dt.rank, (r) => `    let w${r} = WDT[c * ${u(dt.rank)} + ${u(r)}];`) : ""}
    for (var ch = 0u; ch < NCH; ch++) {
      let t0 = ch * T;
      let tl = min(T, L - t0);
      for (var i = 0u; i < tl; i++) {
        let p = pos(k, t0 + i);
${dt ? projectedDelta(dt, sgw, "        ") : "        let z = DL[iDl(b, k, d, p)];"}
        let dlt = softplus(z + bias);
        let io = iU(b, k, d, p);
        let uu = U[io];
        let du = dlt * uu;
${loadBC(N, m.nv, t.subgroupWidth, "iB(b, k, p)", "iC(b, k, p)", "", "        ")}
        var y = dc * uu;
${
    repeat(m.nv, (j) =>
      `        h${j} = exp2(dlt * a${j}) * h${j} + du * b${j};
        y = y + dot(h${j}, c${j});`)
  }
        if (valid) { ${store} }
      }
${
    saveState
      ? `      if (valid) {
        let ck = ((b * CH + c) * NCH + ch) * NV;
${repeat(m.nv, (j) => `        CK[ck + ${u(j)}] = h${j};`)}
      }`
      : ""
  }
    }
  }
}
`;
}

/**
 * Whether {@linkcode forwardVec4Wgsl} serves this layout and tuning: the generic layout
 * (rows contiguous along L), L and the chunk length multiples of 4 (vec4 steps never cross
 * a chunk or a row), and an even N (each position's packed B/C record is whole vec4s).
 */
function forwardVec4Fits(l: KernelLayout, t: KernelTuning): boolean {
  return l.kind === "generic" && t.serialGroups === 1 && l.length % 4 === 0 &&
    t.chunkLength % 4 === 0 && l.dState % 2 === 0;
}

/**
 * Forward kernel, generic layout, four positions per step: u and Δ are read and the output
 * written as vec4s along the row (one load instruction per four positions: on lavapipe each
 * load or store instruction is a loop over the SIMD lanes, so this divides that cost by
 * about three), and each position's packed B/C record (2N floats = N/2 vec4s) is read as
 * vec4s, one per lane of a subgroup, then broadcast. Same mapping and results as
 * {@linkcode forwardWgsl}; requires {@linkcode forwardVec4Fits}.
 */
function forwardVec4Wgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  saveState = true,
): string {
  const N = l.dState;
  const nq = N / 2; // vec4s per packed record
  const sgw = t.subgroupWidth;
  const loads = sgw > 0 ? Math.ceil(nq / sgw) : 0;
  // Packed float `f` of the record (B: f < N, C: f ≥ N) as an expression on the vec4s q*.
  const elem = (f: number) => `q${Math.floor(f / 4)}.${"xyzw"[f % 4]}`;
  const record = (s: number) => {
    const out: string[] = [];
    if (sgw > 0) {
      for (let r = 0; r < loads; r++) {
        out.push(
          `        let v${s}_${r} = BC4[rec + min(sgi % ${u(sgw)} + ${u(r * sgw)}, ${u(nq - 1)})];`,
        );
      }
      for (let q = 0; q < nq; q++) {
        out.push(
          `        let q${q} = subgroupBroadcast(v${s}_${Math.floor(q / sgw)}, ${u(q % sgw)});`,
        );
      }
    } else {
      for (let q = 0; q < nq; q++) out.push(`        let q${q} = BC4[rec + ${u(q)}];`);
    }
    for (let j = 0; j < m.nv; j++) {
      const bs: string[] = [], cs: string[] = [];
      for (let e = 4 * j; e < Math.min(4 * j + 4, N); e++) {
        bs.push(elem(e));
        cs.push(elem(N + e));
      }
      out.push(`        let b${j} = ${vec4Of(bs)};`, `        let c${j} = ${vec4Of(cs)};`);
    }
    return out.join("\n");
  };
  const step = (s: number) =>
    `      {
        let p = t0 + i + ${u(s)};
        let rec = ((b * KALL + k) * L + p) * ${u(nq)};
${record(s)}
        let dlt = softplus(z4.${"xyzw"[s]} + bias);
        let uu = u4.${"xyzw"[s]};
        let du = dlt * uu;
        var y = dc * uu;
${
      repeat(m.nv, (j) =>
        `        h${j} = exp2(dlt * a${j}) * h${j} + du * b${j};
        y = y + dot(h${j}, c${j});`)
    }
        y4.${"xyzw"[s]} = y;
      }`;
  return header(l, t, m) + `
@group(0) @binding(0) var<storage, read> U4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> DL4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> AA: array<f32>;
@group(0) @binding(3) var<storage, read> BC4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> DD: array<f32>;
@group(0) @binding(6) var<storage, read> BIAS: array<f32>;
@group(0) @binding(7) var<storage, read_write> OUT4: array<vec4<f32>>;
${saveState ? "@group(0) @binding(8) var<storage, read_write> CK: array<vec4<f32>>;" : ""}
${channelEntry(t, "forward", false)}
  let row4 = (b * CH + c) * (L / 4u);
${repeat(m.nv, (j) => `  let a${j} = ${aLoad(j, N)} * LOG2E;\n  var h${j} = vec4<f32>(0.0);`)}
  let dc = DD[c];
  let bias = BIAS[c];
  for (var ch = 0u; ch < NCH; ch++) {
    let t0 = ch * T;
    let tl = min(T, L - t0);
    // The chunk's u and Δ are loaded before any is used: the rows of a workgroup are far
    // apart in memory, so issuing all the loads together overlaps their cache misses
    // (measured ~10 % faster on lavapipe than loading them four positions at a time).
    let q0 = row4 + t0 / 4u;
    let last = row4 + (t0 + tl) / 4u - 1u;
${
    repeat(t.chunkLength / 4, (g) =>
      `    let zz${g} = DL4[min(q0 + ${u(g)}, last)];
    let uu${g} = U4[min(q0 + ${u(g)}, last)];`)
  }
${
    repeat(t.chunkLength / 4, (g) =>
      `    if (${u(4 * g)} < tl) {
      let i = ${u(4 * g)};
      let q4 = q0 + ${u(g)};
      let z4 = zz${g};
      let u4 = uu${g};
      var y4 = vec4<f32>(0.0);
${repeat(4, step)}
      if (valid) { OUT4[q4] = y4; }
    }`)
  }
${
    saveState
      ? `    if (valid) {
      let ck = ((b * CH + c) * NCH + ch) * NV;
${repeat(m.nv, (j) => `      CK[ck + ${u(j)}] = h${j};`)}
    }`
      : ""
  }
  }
}
`;
}

/**
 * The `serial-row` forward of this layout and tuning: {@linkcode forwardVec4Wgsl} where it
 * fits ({@linkcode forwardVec4Fits}), else {@linkcode forwardWgsl}.
 */
export function serialForwardWgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  saveState: boolean,
): string {
  return (forwardVec4Fits(l, t) ? forwardVec4Wgsl : forwardWgsl)(l, t, m, saveState);
}

/**
 * Forward, variant "workgroup-scan" (the CUDA structure). Mapping: one workgroup per
 * (batch, channel) row (x = channel within the group, y = parallel group, z = batch); each
 * of its WGB invocations owns IT consecutive positions of a chunk of WGB·IT positions. Per
 * chunk: each invocation composes its items' pairs (ā, b̄) under
 * (a0,b0)∘(a1,b1) = (a1·a0, a1·b0 + b1), a Hillis–Steele scan in workgroup memory combines
 * the invocations' aggregates, the running prefix carries across chunks, and a second walk
 * over the items produces h, the output and the chunk-boundary checkpoints of the backward.
 */
export function forwardScanWgsl(
  l: KernelLayout,
  t: KernelTuning,
  m: KernelDims,
  wgb: number,
  items: number,
): string {
  const N = l.dState;
  const nv = m.nv;
  const store = t.serialGroups > 1
    ? `if (ks == 0u) { OUT[io] = y; } else { OUT[io] = OUT[io] + y; }`
    : `OUT[io] = y;`;
  const steps: number[] = [];
  for (let off = 1; off < wgb; off *= 2) steps.push(off);
  const walk1 = repeat(items, (it) => `
      let t${it} = base + ${u(it)};
      let in${it} = t${it} < L;
      let p${it} = pos(k, min(t${it}, L - 1u));
      let dlt${it} = select(0.0, softplus(DL[iDl(b, k, d, p${it})] + bias), in${it});
      let uu${it} = U[iU(b, k, d, p${it})];
      let du${it} = dlt${it} * uu${it};
${loadBC(N, nv, 0, `iB(b, k, p${it})`, `iC(b, k, p${it})`, `q${it}`, "      ")}
${
    repeat(nv, (j) =>
      `      let ab${it}_${j} = exp2(dlt${it} * a2${j});
      pa${j} = ab${it}_${j} * pa${j};
      ph${j} = ab${it}_${j} * ph${j} + du${it} * q${it}b${j};`)
  }`);
  const walk2 = repeat(items, (it) => `
      {
${repeat(nv, (j) => `        h${j} = ab${it}_${j} * h${j} + du${it} * q${it}b${j};`)}
        var y = dc * uu${it};
${repeat(nv, (j) => `        y = y + dot(h${j}, q${it}c${j});`)}
        if (in${it}) {
          let io = iU(b, k, d, p${it});
          ${store}
          if ((t${it} + 1u) % T == 0u || t${it} + 1u == L) {
            let ck = ((b * CH + c) * NCH + t${it} / T) * NV;
${repeat(nv, (j) => `            CK[ck + ${u(j)}] = h${j};`)}
          }
        }
      }`);
  const scan = steps.map((off) => `
      if (lane >= ${u(off)}) {
${
    repeat(nv, (j) =>
      `        ta${j} = SA[(lane - ${u(off)}) * NV + ${u(j)}];\n        th${j} = SH[(lane - ${
        u(off)
      }) * NV + ${u(j)}];`)
  }
      }
      workgroupBarrier();
      if (lane >= ${u(off)}) {
${
    repeat(nv, (j) =>
      `        ph${j} = pa${j} * th${j} + ph${j};
        pa${j} = pa${j} * ta${j};
        SA[lane * NV + ${u(j)}] = pa${j};
        SH[lane * NV + ${u(j)}] = ph${j};`)
  }
      }
      workgroupBarrier();`).join("");
  return header(l, t, m) + BINDINGS_IN + `
@group(0) @binding(7) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(8) var<storage, read_write> CK: array<vec4<f32>>;

const WGB: u32 = ${u(wgb)};
const IT: u32 = ${u(items)};
var<workgroup> SA: array<vec4<f32>, ${wgb * nv}>;
var<workgroup> SH: array<vec4<f32>, ${wgb * nv}>;

@compute @workgroup_size(${wgb})
fn forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let lane = lid.x;
  let d = wg.x;
  let b = wg.z;
  for (var ks = 0u; ks < KSER; ks++) {
    let k = wg.y * KSER + ks;
    let c = k * DI + d;
${repeat(nv, (j) => `    let a2${j} = ${aLoad(j, N)} * LOG2E;\n    var hc${j} = vec4<f32>(0.0);`)}
    let dc = DD[c];
    let bias = BIAS[c];
    let nchunk = (L + WGB * IT - 1u) / (WGB * IT);
    for (var q = 0u; q < nchunk; q++) {
      let base = (q * WGB + lane) * IT;
${
    repeat(nv, (j) =>
      `      var pa${j} = vec4<f32>(1.0);\n      var ph${j} = vec4<f32>(0.0);\n      var ta${j} = vec4<f32>(1.0);\n      var th${j} = vec4<f32>(0.0);`)
  }
${walk1}
${
    repeat(nv, (j) =>
      `      SA[lane * NV + ${u(j)}] = pa${j};\n      SH[lane * NV + ${u(j)}] = ph${j};`)
  }
      workgroupBarrier();${scan}
      // Exclusive prefix of this invocation, applied to the carry from earlier chunks.
${
    repeat(nv, (j) =>
      `      var h${j} = hc${j};
      if (lane > 0u) {
        h${j} = SA[(lane - 1u) * NV + ${u(j)}] * hc${j} + SH[(lane - 1u) * NV + ${u(j)}];
      }`)
  }
${walk2}
${
    repeat(nv, (j) =>
      `      hc${j} = SA[(WGB - 1u) * NV + ${u(j)}] * hc${j} + SH[(WGB - 1u) * NV + ${u(j)}];`)
  }
      workgroupBarrier();
    }
    storageBarrier();
    workgroupBarrier();
  }
}
`;
}
