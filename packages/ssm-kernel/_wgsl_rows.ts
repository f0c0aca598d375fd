/**
 * Building blocks of the CPU family's row kernels (forward in `_wgsl_forward.ts`, backward in
 * `_wgsl_backward.ts`). The layout (generic mamba `(B, G·D, L)` or SS2D's channels-last
 * cross-scan) is expressed as index functions baked into the source (`_wgsl_header.ts`), so
 * the same kernel bodies serve both without copies.
 *
 * Design (measured on lavapipe, where every non-uniform buffer access costs a per-lane
 * loop and cross-lane reductions are as dear): the per-row work walks L serially with the
 * N states in vec4 registers; B/C, shared by all channels of a group, are loaded once per
 * subgroup and broadcast when subgroups are available; chunk loops of the backward are
 * unrolled so per-position values stay in registers; and the cross-channel sums dB/dC are
 * computed by a second backward kernel whose invocations own a chunk of positions and loop
 * over the channels, so no cross-invocation reduction (and no float atomic) is needed.
 *
 * @module
 */

import { type KernelTuning, u, vec4Of } from "./_wgsl_header.ts";

/**
 * Statements loading B and C of one position as vec4s `${p}b{j}`, `${p}c{j}`. With subgroups,
 * lane `i` of each subgroup loads elements `i, i + SGW, …` (clamped in bounds) and every
 * element is broadcast from the lane that loaded it: N/SGW loads per lane instead of 2N.
 * Requires all lanes of the subgroup to execute it (uniform control flow).
 */
export function loadBC(
  N: number,
  nv: number,
  sgw: number,
  bb: string,
  cb: string,
  p: string,
  indent: string,
): string {
  const out: string[] = [];
  for (const [buf, base, name, ns] of [["BB", bb, "b", "NSB"], ["CC", cb, "c", "NSC"]]) {
    if (sgw > 0) {
      const q = Math.ceil(N / sgw);
      for (let i = 0; i < q; i++) {
        out.push(
          `${indent}let ${p}${name}l${i} = ${buf}[${base} + min(sgi % ${u(sgw)} + ${u(i * sgw)}, ${
            u(N - 1)
          }) * ${ns}];`,
        );
      }
      for (let j = 0; j < nv; j++) {
        const parts: string[] = [];
        for (let e = 4 * j; e < Math.min(N, 4 * j + 4); e++) {
          parts.push(`subgroupBroadcast(${p}${name}l${Math.floor(e / sgw)}, ${u(e % sgw)})`);
        }
        out.push(`${indent}let ${p}${name}${j} = ${vec4Of(parts)};`);
      }
    } else {
      for (let j = 0; j < nv; j++) {
        const parts: string[] = [];
        for (let e = 4 * j; e < Math.min(N, 4 * j + 4); e++) {
          parts.push(`${buf}[${base} + ${u(e)} * ${ns}]`);
        }
        out.push(`${indent}let ${p}${name}${j} = ${vec4Of(parts)};`);
      }
    }
  }
  return out.join("\n");
}

/** The vec4 `j` of A's row `c` (`at` reads element `i`; zero-padded past N). */
export function aLoad(j: number, n: number, at = (i: string) => `AA[${i}]`): string {
  const parts: string[] = [];
  for (let e = 4 * j; e < Math.min(n, 4 * j + 4); e++) parts.push(at(`c * N + ${u(e)}`));
  return vec4Of(parts);
}

/** The subgroup-invocation-id builtin parameter, when the tuning uses subgroups. */
function sgBuiltin(t: KernelTuning): string {
  return t.subgroupWidth > 0 ? ", @builtin(subgroup_invocation_id) sgi: u32" : "";
}

/**
 * Head of a channel-per-lane entry point `name`: channel `d` (clamped to DI − 1; `valid` when
 * in range), batch `b`, then either the loop over the workgroup's KSER directions `k` (left
 * open, `serial`) or the single direction `k = wg.y`, and the row `c` of A, D and delta_bias.
 */
export function channelEntry(t: KernelTuning, name: string, serial: boolean): string {
  const head = `
@compute @workgroup_size(${t.workgroupSize})
fn ${name}(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>${
    sgBuiltin(t)
  }) {
  // No early return: the subgroup and workgroup operations need every lane; lanes past DI
  // compute on a clamped channel and store nothing.
  let valid = wg.x * WG + lid.x < DI;
  let d = min(wg.x * WG + lid.x, DI - 1u);
  let b = wg.z;
`;
  return head + (serial
    ? `  for (var ks = 0u; ks < KSER; ks++) {
    let k = wg.y * KSER + ks;
    let c = k * DI + d;`
    : `  let k = wg.y;
  let c = k * DI + d;`);
}
