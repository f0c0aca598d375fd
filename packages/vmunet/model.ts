/**
 * The VM-UNet model on the `@vmunet/tensor` engine (docs/spec.md §2): patch embedding, four
 * encoder stages, four decoder stages with the skip additions before each PatchExpand, the final
 * 4× expand and 1×1 conv, the sigmoid for one class and the 1 → 3 channel repeat; its
 * parameters under the official `state_dict` keys, checkpoint loading and saving, and the
 * official losses.
 *
 * @module
 */

import {
  add,
  bceDiceLoss,
  ceDiceLoss,
  type Engine,
  repeat,
  Rng,
  ShapeError,
  sigmoid,
  type Tensor,
} from "@vmunet/tensor";
import { formatShape } from "@vmunet/tensor/kernels";
import type { SafetensorsEntry } from "@vmunet/tensor/safetensors";
import {
  BaseModule,
  FinalPatchExpand2D,
  ParameterFactory,
  PatchEmbed2D,
  VSSLayer,
  VSSLayerUp,
} from "@vmunet/vss-block";
import {
  CheckpointError,
  type CheckpointFile,
  mapPretrainedVMamba,
  type PretrainedMapping,
  selectStateDict,
  serializeWeights,
  type StateDictReport,
} from "./checkpoint.ts";
import { stageDims, validateConfig, type VMUNetConfig } from "./config.ts";
import { type ParameterSpec, parameterSpecs } from "./state_dict.ts";

/** Options of {@linkcode VMUNet.create}. */
export interface VMUNetCreateOptions {
  /** Seed of the initialisation and of the DropPath masks (default 0). */
  seed?: number;
}

/** Options of {@linkcode VMUNet.forward}. */
export interface VMUNetForwardOptions {
  /** Training mode (default true): DropPath active. The model has no other mode switch. */
  training?: boolean;
  /** Generator of the DropPath masks (default: the model's own, seeded at creation). */
  rng?: Rng;
}

/** What {@linkcode VMUNet.forward} returns. */
export interface VMUNetOutput {
  /** `(B, nc, H, W)`: the network's raw output (pre-sigmoid for nc = 1). */
  logits: Tensor;
  /** What the official `VMUNet.forward` returns: sigmoid(logits) for nc = 1, else logits. */
  output: Tensor;
}

/** A parameter's values with its shape, as {@linkcode VMUNet.stateDict} returns them. */
export interface StateDictTensor {
  /** Shape. */
  shape: number[];
  /** Row-major values. */
  data: Float32Array;
}

/** Options of {@linkcode VMUNet.loadStateDict}. */
export interface LoadStateDictOptions {
  /**
   * Refuse any missing, unexpected or shape-mismatched key, listing them all in one error
   * (default true). Non-strict loading loads what fits and reports the rest.
   */
  strict?: boolean;
  /** Name of the checkpoint quoted in errors (a path). */
  source?: string;
}

/** What {@linkcode VMUNet.loadPretrainedVMamba} did. */
export interface PretrainedLoadReport {
  /** Which checkpoint keys went where, and which were dropped. */
  mapping: PretrainedMapping;
  /** The comparison with the model (missing = kept at their initial values). */
  report: StateDictReport;
}

/** Stochastic-depth rates rising linearly from 0 to `rate` over all blocks (float32). */
function dropPathRates(rate: number, depths: readonly number[]): number[] {
  const n = depths.reduce((a, b) => a + b, 0);
  if (n === 1) return [0];
  return Array.from({ length: n }, (_, i) => Math.fround((rate * i) / (n - 1)));
}

/** `rates` cut into one run per stage of `depths` blocks. */
function perStage(rates: readonly number[], depths: readonly number[]): number[][] {
  let at = 0;
  return depths.map((depth) => rates.slice(at, at += depth));
}

function toEntry(name: string, v: SafetensorsEntry | StateDictTensor): SafetensorsEntry {
  if ("bytes" in v) return v;
  const count = v.shape.reduce((a, b) => a * b, 1);
  if (v.data.length !== count) {
    throw new CheckpointError(
      "<state dict>",
      `tensor ${name} has ${v.data.length} values for shape [${v.shape}]`,
    );
  }
  return {
    name,
    dtype: "F32",
    shape: v.shape,
    bytes: new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength),
  };
}

/**
 * VM-UNet (Ruan, Li, Xiang 2024) with the official parameter names, initialisation and
 * forward computation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "@vmunet/tensor";
 * import { preset, VMUNet } from "@vmunet/vmunet";
 * const engine = await Engine.create();
 * const model = VMUNet.create(engine, preset("vmunet-t", { dims: 8 }), { seed: 42 });
 * const image = engine.full([1, 3, 32, 32], 0.5);
 * const target = engine.zeros([1, 1, 32, 32]);
 * const loss = engine.scope(() => {
 *   const { output } = model.forward(image, { training: true });
 *   const l = model.loss(output, target);
 *   l.backward();
 *   return l;
 * });
 * // Dice ≈ 1 (empty target) plus the BCE of outputs near 0.5 against 0 (1.41 for seed 42)
 * const [l] = await loss.read();
 * assert.ok(Math.abs(l - 1.4113) < 1e-3);
 * assert.deepEqual(model.parameters.get("vmunet.final_conv.bias")!.grad!.shape, [1]);
 * engine.destroy();
 * ```
 */
export class VMUNet extends BaseModule {
  /** The engine the parameters live on. */
  readonly engine: Engine;
  /** The architecture. */
  readonly config: VMUNetConfig;
  /** The official parameter list (keys and shapes in `state_dict` order). */
  readonly specs: readonly ParameterSpec[];
  /** Every parameter by official key, in `state_dict` order. */
  readonly parameters: Map<string, Tensor>;
  /** `vmunet.patch_embed`. */
  readonly patchEmbed: PatchEmbed2D;
  /** `vmunet.layers.0..3` (encoder). */
  readonly layers: VSSLayer[];
  /** `vmunet.layers_up.0..3` (decoder). */
  readonly layersUp: VSSLayerUp[];
  /** `vmunet.final_up`. */
  readonly finalUp: FinalPatchExpand2D;
  /** `vmunet.final_conv.weight (nc, d/4, 1, 1)`. */
  readonly finalConvWeight: Tensor;
  /** `vmunet.final_conv.bias (nc)`. */
  readonly finalConvBias: Tensor;
  /** The DropPath generator used when `forward` gets none. */
  readonly rng: Rng;

  private constructor(engine: Engine, config: VMUNetConfig, seed: number) {
    // Parameter keys are the official ones (`vmunet.…`); they are also the labels.
    super(new ParameterFactory(engine, new Rng(seed)));
    this.engine = engine;
    this.config = config;
    this.specs = parameterSpecs(config);
    const dims = stageDims(config);
    this.rng = new Rng(seed, 0x8000_0000);
    const n = config.dState;
    this.patchEmbed = this.submodule(
      "vmunet.patch_embed",
      (f) => new PatchEmbed2D(f, { embedDim: dims[0], inChannels: 3, patchSize: 4 }),
    );
    const dpr = perStage(dropPathRates(config.dropPathRate, config.depths), config.depths);
    const dprUp = perStage(
      dropPathRates(config.dropPathRate, config.depthsDecoder).reverse(),
      config.depthsDecoder,
    );
    this.layers = dims.map((dim, i) => {
      const stage = { dim, depth: config.depths[i], dState: n, dropPath: dpr[i] };
      return this.submodule(
        `vmunet.layers.${i}`,
        (f) => new VSSLayer(f, { ...stage, downsample: i < 3 }),
      );
    });
    this.layersUp = dims.map((_, i) => {
      const stage = {
        dim: dims[3 - i],
        depth: config.depthsDecoder[i],
        dState: n,
        dropPath: dprUp[i],
      };
      return this.submodule(
        `vmunet.layers_up.${i}`,
        (f) => new VSSLayerUp(f, { ...stage, upsample: i > 0 }),
      );
    });
    this.finalUp = this.submodule(
      "vmunet.final_up",
      (f) => new FinalPatchExpand2D(f, { dim: dims[0] }),
    );
    [this.finalConvWeight, this.finalConvBias] = this.conv2d(
      "vmunet.final_conv",
      [config.numClasses, dims[0] / 4, 1, 1],
    );
    const named = this.namedParameters();
    this.parameters = new Map(named);
    // The blocks must reproduce the official layout exactly (keys, shapes and order).
    const drift = this.specs.findIndex((s, i) =>
      named[i]?.[0] !== s.name || named[i][1].shape.join() !== s.shape.join()
    );
    if (drift >= 0 || named.length !== this.specs.length) {
      throw new Error(
        `VMUNet: parameter ${drift} is ${named[drift]?.[0]} [${named[drift]?.[1].shape}], ` +
          `the official layout has ${this.specs[drift]?.name} [${this.specs[drift]?.shape}]`,
      );
    }
  }

  /**
   * Builds the model with the official initialisation (docs/spec.md §5) from a seed.
   *
   * @param engine The engine.
   * @param config The architecture (e.g. `preset("vmunet-s")`).
   * @param options The seed.
   * @returns The model.
   * @throws {ConfigError} for an invalid configuration.
   */
  static create(engine: Engine, config: VMUNetConfig, options: VMUNetCreateOptions = {}): VMUNet {
    return new VMUNet(engine, validateConfig(structuredClone(config)), options.seed ?? 0);
  }

  /** Number of scalars in all parameters. */
  get parameterCount(): number {
    let n = 0;
    for (const t of this.parameters.values()) n += t.size;
    return n;
  }

  /**
   * The forward pass of the official `VMUNet.forward`.
   *
   * @param input `(B, inChannels, H, W)` NCHW, H and W multiples of 32.
   * @param options Training flag and DropPath generator.
   * @returns `logits (B, nc, H, W)` and `output` (sigmoid for nc = 1, else the logits).
   * @throws {ShapeError} naming the input shape when it does not fit.
   */
  forward(input: Tensor, options: VMUNetForwardOptions = {}): VMUNetOutput {
    const { inChannels, numClasses } = this.config;
    if (input.rank !== 4 || input.shape[1] !== inChannels) {
      throw new ShapeError(
        "VMUNet",
        `input must be NCHW (B, ${inChannels}, H, W), got ${formatShape(input.shape)}`,
      );
    }
    const [, , h, w] = input.shape;
    if (h % 32 !== 0 || w % 32 !== 0 || h === 0 || w === 0) {
      throw new ShapeError(
        "VMUNet",
        `input height and width must be multiples of 32 (patch 4 × three 2× merges), got ` +
          `${formatShape(input.shape)}`,
      );
    }
    const fo = { training: options.training ?? true, rng: options.rng ?? this.rng };
    // Without the tape, each stage's temporaries are freed as soon as the stage is done.
    const engine = this.engine;
    const stage = (fn: () => Tensor): Tensor => engine.gradEnabled ? fn() : engine.scope(fn);
    let x = stage(() =>
      this.patchEmbed.forward(inChannels === 1 ? repeat(input, [1, 3, 1, 1]) : input)
    );
    const skips: Tensor[] = [];
    for (const layer of this.layers) {
      skips.push(x);
      const xi = x;
      x = stage(() => layer.forward(xi, fo));
    }
    for (let i = 0; i < 4; i++) {
      const xi = x;
      x = stage(() => this.layersUp[i].forward(i === 0 ? xi : add(xi, skips[4 - i]), fo));
    }
    // final_up + final_conv, with the 4×4 shuffle applied to the nc-channel logits only.
    const xf = x;
    const logits = stage(() =>
      this.finalUp.forwardToLogits(xf, this.finalConvWeight, this.finalConvBias)
    );
    return { logits, output: numClasses === 1 ? sigmoid(logits) : logits };
  }

  /**
   * The official training loss with weights 1:1: BceDiceLoss on the sigmoid output for one
   * class (target `(B, 1, H, W)` f32 in [0, 1]), CeDiceLoss on the logits otherwise (target
   * `(B, H, W)` i32 class ids).
   *
   * @param output `forward(...).output`.
   * @param target The target.
   * @returns The scalar loss.
   */
  loss(output: Tensor, target: Tensor): Tensor {
    return this.config.numClasses === 1 ? bceDiceLoss(output, target) : ceDiceLoss(output, target);
  }

  /**
   * Loads parameter values by official key (a checkpoint's tensors, or
   * {@linkcode stateDict}'s output), converting any float dtype to f32.
   *
   * @param tensors Tensors by key.
   * @param options Strictness and the source name for messages.
   * @returns What was missing, unexpected or mismatched (empty when all fit).
   * @throws {CheckpointError} in strict mode when anything does not fit, listing every key.
   */
  loadStateDict(
    tensors: ReadonlyMap<string, SafetensorsEntry | StateDictTensor>,
    options: LoadStateDictOptions = {},
  ): StateDictReport {
    const entries = new Map<string, SafetensorsEntry>();
    for (const [k, v] of tensors) entries.set(k, toEntry(k, v));
    const { values, report } = selectStateDict(this.specs, entries, options);
    // Commands recorded so far must read the old values: submit them before writing.
    this.engine.flush();
    for (const [k, v] of values) {
      const t = this.parameters.get(k)!;
      this.engine.device.queue.writeBuffer(t.buffer, 0, v.buffer, v.byteOffset, v.byteLength);
    }
    return report;
  }

  /**
   * Reads every parameter back (official keys, `state_dict` order).
   *
   * @returns Values and shapes by key.
   */
  async stateDict(): Promise<Map<string, StateDictTensor>> {
    const entries = [...this.parameters];
    // All readbacks in flight at once: one GPU sync instead of one per parameter (≥ 10 ms
    // each).
    const values = await Promise.all(entries.map(([, t]) => t.read()));
    return new Map(
      entries.map(([k, t], i) => [k, { shape: [...t.shape], data: values[i] as Float32Array }]),
    );
  }

  /**
   * Serialises the weights as safetensors with the official keys and the configuration in
   * the metadata (`saveModel` of `@vmunet/vmunet/fs` writes them to a file atomically).
   *
   * @param metadata Extra metadata strings.
   * @returns The file's bytes.
   */
  async serialize(metadata: Record<string, string> = {}): Promise<Uint8Array> {
    const values = new Map<string, Float32Array>();
    for (const [k, v] of await this.stateDict()) values.set(k, v.data);
    return serializeWeights(this.config, values, this.specs, metadata);
  }

  /**
   * Loads a parsed checkpoint (safetensors, or an official `.pth`: `parseCheckpoint`, or
   * `readCheckpoint` of `@vmunet/vmunet/fs`) by official key.
   *
   * @param file The checkpoint.
   * @param options Strictness.
   * @returns The comparison report.
   * @throws {CheckpointError} naming `file.source` in strict mode when anything does not fit.
   */
  load(file: CheckpointFile, options: { strict?: boolean } = {}): StateDictReport {
    return this.loadStateDict(file.tensors, { ...options, source: file.source });
  }

  /**
   * Loads VMamba ImageNet weights (`vmamba_small_e238_ema.pth`) as the official
   * `load_from`: the encoder from every key the model has, and the decoder mirrored
   * (`layers.i` → `layers_up.(3−i)`). PatchExpand2D, final_up and final_conv keep their
   * initial values (reported as missing).
   *
   * @param file The parsed `.pth` (keys under `model`) or safetensors file with VMamba keys.
   * @returns The mapping and the report.
   * @throws {CheckpointError} when a mapped tensor's shape differs (wrong configuration).
   */
  loadPretrainedVMamba(file: CheckpointFile): PretrainedLoadReport {
    const path = file.source;
    const mapping = mapPretrainedVMamba(file.tensors, this.specs);
    const report = this.loadStateDict(mapping.tensors, { strict: false, source: path });
    if (report.mismatched.length > 0) {
      throw new CheckpointError(
        path,
        `pretrained weights do not fit this configuration: ${
          report.mismatched.map((m) => `${m.name} model [${m.expected}] file [${m.got}]`).join(
            ", ",
          )
        }`,
        report,
      );
    }
    return { mapping, report };
  }

  /** Clears every parameter's gradient. */
  zeroGrad(): void {
    for (const t of this.parameters.values()) {
      t.grad?.dispose();
      t.grad = null;
    }
  }
}
