/**
 * The official `VMUNet.state_dict()` layout: every parameter name and shape, in the order
 * PyTorch lists them (docs/spec.md §6.1), derived from a configuration.
 *
 * @module
 */

import { ss2dDims } from "@vmunet/vss-block";
import { stageDims, type VMUNetConfig } from "./config.ts";

/** One parameter: its official key and shape. */
export interface ParameterSpec {
  /** The state-dict key, e.g. `vmunet.layers.0.blocks.0.self_attention.A_logs`. */
  name: string;
  /** Its shape. */
  shape: number[];
}

function vssBlock(prefix: string, c: number, dState: number): ParameterSpec[] {
  const { dInner: di, dtRank: r } = ss2dDims(c, dState);
  const n = dState;
  const sa = `${prefix}.self_attention`;
  return [
    { name: `${prefix}.ln_1.weight`, shape: [c] },
    { name: `${prefix}.ln_1.bias`, shape: [c] },
    { name: `${sa}.x_proj_weight`, shape: [4, r + 2 * n, di] },
    { name: `${sa}.dt_projs_weight`, shape: [4, di, r] },
    { name: `${sa}.dt_projs_bias`, shape: [4, di] },
    { name: `${sa}.A_logs`, shape: [4 * di, n] },
    { name: `${sa}.Ds`, shape: [4 * di] },
    { name: `${sa}.in_proj.weight`, shape: [2 * di, c] },
    { name: `${sa}.conv2d.weight`, shape: [di, 1, 3, 3] },
    { name: `${sa}.conv2d.bias`, shape: [di] },
    { name: `${sa}.out_norm.weight`, shape: [di] },
    { name: `${sa}.out_norm.bias`, shape: [di] },
    { name: `${sa}.out_proj.weight`, shape: [c, di] },
  ];
}

/**
 * Lists every parameter of VM-UNet for `config` with the official key and shape.
 *
 * @param config The architecture.
 * @returns The parameters in state-dict order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parameterCount, parameterSpecs, preset } from "@vmunet/vmunet";
 * const specs = parameterSpecs(preset("vmunet-s"));
 * assert.equal(specs[0].name, "vmunet.patch_embed.proj.weight");
 * assert.equal(parameterCount(specs), 27427561);
 * ```
 */
export function parameterSpecs(config: VMUNetConfig): ParameterSpec[] {
  const dims = stageDims(config);
  const n = config.dState;
  const specs: ParameterSpec[] = [
    { name: "vmunet.patch_embed.proj.weight", shape: [dims[0], 3, 4, 4] },
    { name: "vmunet.patch_embed.proj.bias", shape: [dims[0]] },
    { name: "vmunet.patch_embed.norm.weight", shape: [dims[0]] },
    { name: "vmunet.patch_embed.norm.bias", shape: [dims[0]] },
  ];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < config.depths[i]; j++) {
      specs.push(...vssBlock(`vmunet.layers.${i}.blocks.${j}`, dims[i], n));
    }
    if (i < 3) {
      specs.push(
        {
          name: `vmunet.layers.${i}.downsample.reduction.weight`,
          shape: [2 * dims[i], 4 * dims[i]],
        },
        { name: `vmunet.layers.${i}.downsample.norm.weight`, shape: [4 * dims[i]] },
        { name: `vmunet.layers.${i}.downsample.norm.bias`, shape: [4 * dims[i]] },
      );
    }
  }
  for (let i = 0; i < 4; i++) {
    const c = dims[3 - i];
    for (let j = 0; j < config.depthsDecoder[i]; j++) {
      specs.push(...vssBlock(`vmunet.layers_up.${i}.blocks.${j}`, c, n));
    }
    if (i > 0) {
      // PatchExpand2D(dim=c): Linear(2c → 4c), then LN(c) after the 2×2 shuffle.
      specs.push(
        { name: `vmunet.layers_up.${i}.upsample.expand.weight`, shape: [4 * c, 2 * c] },
        { name: `vmunet.layers_up.${i}.upsample.norm.weight`, shape: [c] },
        { name: `vmunet.layers_up.${i}.upsample.norm.bias`, shape: [c] },
      );
    }
  }
  const d0 = dims[0];
  specs.push(
    { name: "vmunet.final_up.expand.weight", shape: [4 * d0, d0] },
    { name: "vmunet.final_up.norm.weight", shape: [d0 / 4] },
    { name: "vmunet.final_up.norm.bias", shape: [d0 / 4] },
    { name: "vmunet.final_conv.weight", shape: [config.numClasses, d0 / 4, 1, 1] },
    { name: "vmunet.final_conv.bias", shape: [config.numClasses] },
  );
  return specs;
}

/** Total number of scalars in `specs`. */
export function parameterCount(specs: readonly ParameterSpec[]): number {
  return specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
}
