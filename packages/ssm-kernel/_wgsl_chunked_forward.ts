/**
 * The GPU family's forward kernels: **local** (each chunk's scan from a zero state) and
 * **apply** (each chunk re-walked from its start state, the output stored); the **carry**
 * between them is in `_wgsl_chunked.ts`.
 *
 * @module
 */

import {
  BINDINGS_IN,
  type KernelDims,
  type KernelLayout,
  type KernelTuning,
} from "./_wgsl_header.ts";
import { applyHead, load4, localWgsl, mergeStore, vecAt } from "./_wgsl_chunked.ts";

/**
 * Forward **local**: scans each chunk from a zero state and stores the end state and ΣΔ
 * into `state`. Bindings: U, DL, AA, BB, BIAS, X (`state`, read-write).
 */
export function localForwardWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  return localWgsl(l, t, m, {
    entry: "local_forward",
    read: ["U", "DL", "AA", "BB", "BIAS"],
    before: "",
    reverse: false,
    load: `      let du = dlt * U[iU(b, k, d, p)];
      let ib = iB(b, k, p);`,
    update: (j) =>
      `      v${j} = exp2(dlt * a${j}) * v${j} + du * ${
        vecAt(l.dState, "BB", "ib", `${j}u`, "NSB")
      };`,
  });
}

/**
 * Forward **apply**: one invocation per (batch, chunk, channel, vec4 of states) re-walks the
 * chunk from its start state (the previous chunk's checkpoint), sums `C·h` over the lanes in
 * workgroup memory and stores `y = D·u + Σ C·h`. Bindings: U, DL, AA, BB, CC, DD, BIAS,
 * OUT (read-write), ST; binding 9: the direction uniform.
 */
export function applyForwardWgsl(l: KernelLayout, t: KernelTuning, m: KernelDims): string {
  const bindings = BINDINGS_IN + `@group(0) @binding(7) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(8) var<storage, read> ST: array<f32>;
`;
  return applyHead(l, t, m, "apply_forward", bindings, ["YS"]) + `
  let a2 = ${vecAt(l.dState, "AA", "c * N", "j")} * LOG2E;
  var h = vec4<f32>(0.0);
  if (ch > 0u) { h = ${load4("ST", "stAt(b, c, ch - 1u) + 4u * j")}; }
  let bias = BIAS[c];
  for (var i = 0u; i < T; i++) {
    let tt = t0 + i;
    let p = pos(k, min(tt, L - 1u));
    let dlt = select(0.0, softplus(DL[iDl(b, k, d, p)] + bias), tt < L);
    let du = dlt * U[iU(b, k, d, p)];
    h = exp2(dlt * a2) * h + du * ${vecAt(l.dState, "BB", "iB(b, k, p)", "j", "NSB")};
    YS[lid.x * T + i] = dot(h, ${vecAt(l.dState, "CC", "iC(b, k, p)", "j", "NSC")});
  }
  workgroupBarrier();
  let dc = DD[c];
  for (var i = j; i < T; i = i + NV) {
    let tt = t0 + i;
    if (valid && tt < L) {
      let p = pos(k, tt);
      let io = iU(b, k, d, p);
      var y = dc * U[io];
      for (var q = 0u; q < NV; q++) { y = y + YS[(sl * NV + q) * T + i]; }
      ${mergeStore(l, "OUT", "io", "y")}
    }
  }
}
`;
}
