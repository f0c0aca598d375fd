/**
 * `@vmunet/vss-block`: the building blocks of VM-UNet on the `@vmunet/tensor` engine —
 * PatchEmbed2D, SS2D, VSSBlock, VSSLayer / VSSLayerUp, PatchMerging2D, PatchExpand2D and
 * FinalPatchExpand2D — each a small class holding its parameters under the official
 * `state_dict` key suffixes, initialised as the official code does from a seeded generator,
 * with a differentiable `forward`.
 *
 * SS2D runs channels-last throughout: one matmul for the four x-projections over the
 * natural layout, then one custom op ({@linkcode ss2dScan}) for the four dt-projections on
 * the packed projection and the four-direction cross-scan of `@vmunet/ssm-kernel`
 * (index-mapped directions, fused merge). Float64 references of every block are at
 * `@vmunet/vss-block/reference`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, Rng, sum } from "@vmunet/tensor";
 * import { ParameterFactory, VSSBlock } from "@vmunet/vss-block";
 * const engine = await Engine.create();
 * const block = new VSSBlock(new ParameterFactory(engine, new Rng(42)), { dModel: 8, dState: 4 });
 * const x = engine.full([1, 4, 4, 8], 0.25);
 * engine.scope(() => sum(block.forward(x)).backward());
 * assert.deepEqual(block.selfAttention.aLogs.grad!.shape, [64, 4]);
 * await engine.sync(); // let the GPU finish before destroying the device
 * engine.destroy();
 * ```
 *
 * @module
 */

export * from "./module.ts";
export * from "./cross_scan_op.ts";
export * from "./split_rows.ts";
export * from "./ss2d.ts";
export * from "./gated_norm.ts";
export * from "./vss_block.ts";
export * from "./vss_layer.ts";
export * from "./patch_embed.ts";
export * from "./patch_merging.ts";
export * from "./patch_expand.ts";
export * from "./mamba_init.ts";
