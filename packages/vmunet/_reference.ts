/**
 * Float64 CPU reference of the whole official VM-UNet forward (docs/spec.md §2), composed from the
 * block references of `@vmunet/vss-block/reference`; for tests.
 *
 * @module
 */

import {
  type Array64,
  conv1x1Ref,
  type ParamLookup,
  patchEmbedRef,
  patchExpandRef,
  patchMergingRef,
  vssBlockRef,
} from "@vmunet/vss-block/reference";
import type { VMUNetConfig } from "./config.ts";

/**
 * The official forward in float64 (drop path 0).
 *
 * @param config The architecture.
 * @param params Parameters by full key (`vmunet.…`).
 * @param input `(B, inChannels, H, W)`.
 * @returns `logits (B, nc, H, W)` and `output` (sigmoid for nc = 1).
 */
export function vmunetReference(
  config: VMUNetConfig,
  params: ParamLookup,
  input: Array64,
): { logits: Array64; output: Array64 } {
  const at = (prefix: string): ParamLookup => (name) => params(`vmunet.${prefix}.${name}`);
  let x = input;
  if (config.inChannels === 1) {
    const [b, , h, w] = input.shape;
    const data = new Float64Array(b * 3 * h * w);
    for (let i = 0; i < b; i++) {
      for (let c = 0; c < 3; c++) {
        data.set(input.data.subarray(i * h * w, (i + 1) * h * w), (i * 3 + c) * h * w);
      }
    }
    x = { data, shape: [b, 3, h, w] };
  }
  x = patchEmbedRef(x, at("patch_embed"));
  const skips: Array64[] = [];
  for (let i = 0; i < 4; i++) {
    skips.push(x);
    for (let j = 0; j < config.depths[i]; j++) x = vssBlockRef(x, at(`layers.${i}.blocks.${j}`));
    if (i < 3) x = patchMergingRef(x, at(`layers.${i}.downsample`));
  }
  for (let i = 0; i < 4; i++) {
    if (i > 0) {
      const skip = skips[4 - i];
      x = { data: x.data.map((v, k) => v + skip.data[k]), shape: x.shape };
      x = patchExpandRef(x, at(`layers_up.${i}.upsample`), 2);
    }
    for (let j = 0; j < config.depthsDecoder[i]; j++) {
      x = vssBlockRef(x, at(`layers_up.${i}.blocks.${j}`));
    }
  }
  x = patchExpandRef(x, at("final_up"), 4);
  const logits = conv1x1Ref(
    x,
    params("vmunet.final_conv.weight"),
    params("vmunet.final_conv.bias"),
  );
  const output = config.numClasses === 1
    ? { data: logits.data.map((v) => 1 / (1 + Math.exp(-v))), shape: logits.shape }
    : logits;
  return { logits, output };
}
