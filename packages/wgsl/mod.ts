/**
 * `@vmunet/wgsl`: the kernel-authoring vocabulary shared by `@vmunet/tensor` and
 * `@vmunet/ssm-kernel` — kernel parameters declared once by name (the WGSL struct and the
 * host-side packing from one declaration), dispatch grids within the device's
 * `maxComputeWorkgroupsPerDimension`, and the `enable subgroups;` directive where the
 * device's WGSL wants it. No dependencies; usable with any `GPUDevice`.
 *
 * @example
 * ```ts
 * import { grid1d, ParamLayout } from "@vmunet/wgsl";
 * const params = new ParamLayout({ n: "u32" }, "example.fill");
 * const code = params.wgsl() + `@group(0) @binding(1) var<storage, read_write> y: array<f32>;
 * @compute @workgroup_size(64)
 * fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
 *         @builtin(num_workgroups) nwg: vec3<u32>) {
 *   let i = (wg.y * nwg.x + wg.x) * 64u + lid.x;
 *   if (i < params.n) { y[i] = 1.0; }
 * }`;
 * if (!code.startsWith("struct Params {\n  n: u32,\n}")) throw new Error(code);
 * const n = 100;
 * const words = params.pack({ n });
 * if (words.length !== 1 || words[0] !== n) throw new Error(`${words}`);
 * const [x, y, z] = grid1d(n, 64, 65535);
 * if (x !== 2 || y !== 1 || z !== 1) throw new Error(`${x} ${y} ${z}`);
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./kernel_params.ts";
export * from "./grid.ts";
export * from "./subgroups.ts";
