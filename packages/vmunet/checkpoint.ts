/**
 * Checkpoint loading and saving with the official key names: strict and non-strict checks
 * against the model's parameter list, safetensors files, official `.pth` files, and the
 * official mapping of VMamba ImageNet weights onto the encoder and the mirrored decoder.
 *
 * @module
 */

import { FileError } from "./file_error.ts";
import {
  decodeValues,
  parseSafetensors,
  type SafetensorsEntry,
  serializeSafetensors,
} from "@vmunet/tensor/safetensors";
import { configFromMetadata, configToMetadata, type VMUNetConfig } from "./config.ts";
import { parsePth, type ParsePthOptions, stateDictOf } from "./pth.ts";
import { detectCheckpointFormat } from "./checkpoint_format.ts";
import type { ParameterSpec } from "./state_dict.ts";

/** One parameter whose shape differs between checkpoint and model. */
export interface ShapeMismatch {
  /** The key. */
  name: string;
  /** The model's shape. */
  expected: number[];
  /** The checkpoint's shape. */
  got: number[];
}

/** What a checkpoint has compared with the model's parameter list. */
export interface StateDictReport {
  /** Model parameters absent from the checkpoint. */
  missing: string[];
  /** Checkpoint tensors the model does not have. */
  unexpected: string[];
  /** Keys present in both with different shapes. */
  mismatched: ShapeMismatch[];
}

/** Raised when a checkpoint does not fit the model; the message lists every key at fault. */
export class CheckpointError extends FileError {
  /** `"CheckpointError"`. */
  override name = "CheckpointError";
  /** The full comparison, when the error comes from one. */
  readonly report?: StateDictReport;
  /** Creates the error; `source` names the file. */
  constructor(source: string, message: string, report?: StateDictReport) {
    super(source, message);
    this.report = report;
  }
}

/** Compares checkpoint tensors with the model's parameters. */
export function compareStateDict(
  specs: readonly ParameterSpec[],
  tensors: ReadonlyMap<string, { shape: readonly number[] }>,
): StateDictReport {
  const expected = new Map(specs.map((s) => [s.name, s.shape]));
  const report: StateDictReport = { missing: [], unexpected: [], mismatched: [] };
  for (const spec of specs) {
    const t = tensors.get(spec.name);
    if (!t) report.missing.push(spec.name);
    else if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      report.mismatched.push({ name: spec.name, expected: spec.shape, got: [...t.shape] });
    }
  }
  for (const name of tensors.keys()) if (!expected.has(name)) report.unexpected.push(name);
  return report;
}

/** A human-readable listing of every problem in a report. */
export function describeReport(report: StateDictReport): string {
  const lines: string[] = [];
  if (report.missing.length) {
    lines.push(`missing keys (${report.missing.length}): ${report.missing.join(", ")}`);
  }
  if (report.unexpected.length) {
    lines.push(`unexpected keys (${report.unexpected.length}): ${report.unexpected.join(", ")}`);
  }
  for (const m of report.mismatched) {
    lines.push(`shape mismatch for ${m.name}: model [${m.expected}], checkpoint [${m.got}]`);
  }
  return lines.join("\n");
}

/** The tensors that can be loaded, as float32, and what was left out. */
export interface LoadedStateDict {
  /** Parameter values by key (only keys the model has, with matching shapes). */
  values: Map<string, Float32Array>;
  /** The comparison with the model. */
  report: StateDictReport;
}

/**
 * Selects the checkpoint tensors that fit the model. Strict (the default) refuses any
 * missing, unexpected or mismatched key, listing them all in one error; non-strict loads
 * what fits and reports the rest.
 *
 * @param specs The model's parameters.
 * @param tensors The checkpoint's tensors.
 * @param options `strict` (default true) and `source` for messages.
 * @returns The values to load and the report.
 * @throws {CheckpointError} in strict mode if anything does not fit.
 */
export function selectStateDict(
  specs: readonly ParameterSpec[],
  tensors: ReadonlyMap<string, SafetensorsEntry>,
  options: { strict?: boolean; source?: string } = {},
): LoadedStateDict {
  const report = compareStateDict(specs, tensors);
  const strict = options.strict ?? true;
  if (
    strict && (report.missing.length || report.unexpected.length || report.mismatched.length)
  ) {
    throw new CheckpointError(
      options.source ?? "<checkpoint>",
      `does not fit the model (use non-strict loading to skip these):\n${describeReport(report)}`,
      report,
    );
  }
  const bad = new Set(report.mismatched.map((m) => m.name));
  const values = new Map<string, Float32Array>();
  for (const spec of specs) {
    const t = tensors.get(spec.name);
    if (t && !bad.has(spec.name)) values.set(spec.name, toFloat32(t));
  }
  return { values, report };
}

function toFloat32(entry: SafetensorsEntry): Float32Array {
  return Float32Array.from(decodeValues(entry));
}

/** A parsed checkpoint: its tensors and, for our own files, the configuration. */
export interface CheckpointFile {
  /** The path (or name) it came from. */
  source: string;
  /** `safetensors` or `pth`. */
  format: "safetensors" | "pth";
  /** Tensors by key. */
  tensors: Map<string, SafetensorsEntry>;
  /** Metadata strings (safetensors only). */
  metadata: Record<string, string>;
  /** The configuration recorded in the metadata, if any. */
  config?: VMUNetConfig;
}

/**
 * Parses a checkpoint of either format held in memory, detected from its bytes: safetensors
 * (ours, or the golden fixtures') or an official PyTorch `.pth` (a VM-UNet training
 * checkpoint, a bare `state_dict`, or VMamba's `{model: …}`). The path-based
 * `readCheckpoint` lives in `@vmunet/vmunet/fs`.
 *
 * @example
 * ```ts
 * import { parseCheckpoint, preset, serializeWeights, parameterSpecs } from "@vmunet/vmunet";
 * const config = preset("vmunet-t");
 * const specs = parameterSpecs(config);
 * const values = new Map(specs.map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1))]));
 * const file = await parseCheckpoint(serializeWeights(config, values, specs), "w.safetensors");
 * if (file.format !== "safetensors" || file.tensors.size !== specs.length) throw new Error("round trip");
 * ```
 *
 * @param bytes The whole file.
 * @param source Name for error messages (the path or the dropped file's name).
 * @param options `.pth` options (unknown-global policy, nested key).
 * @returns The tensors, metadata and configuration when recorded.
 * @throws {CheckpointError} naming what the file is when it is neither format (a raw
 *   pickle, a legacy PyTorch file, an HDF5 file, an HTML page, …); `PthError`, `ZipError` or
 *   `PickleError` for a refused `.pth`; `SafetensorsError` for a malformed safetensors file;
 *   each names `source`.
 */
export async function parseCheckpoint(
  bytes: Uint8Array,
  source: string,
  options: ParsePthOptions & { key?: string } = {},
): Promise<CheckpointFile> {
  const found = detectCheckpointFormat(bytes);
  if (found.format === "other") {
    throw new CheckpointError(
      source,
      `not a checkpoint: ${found.description}${found.hint ? `; ${found.hint}` : ""}`,
    );
  }
  if (found.format === "pth") {
    const tensors = await stateDictOf(await parsePth(bytes, source, options), options.key);
    return { source, format: "pth", tensors, metadata: {} };
  }
  const file = parseSafetensors(bytes, source);
  let config: VMUNetConfig | undefined;
  if (file.metadata.dims !== undefined) config = configFromMetadata(file.metadata);
  return {
    source,
    format: "safetensors",
    tensors: new Map(file.tensors),
    metadata: { ...file.metadata },
    config,
  };
}

/**
 * Serialises model weights (official keys) to safetensors, with the configuration in the
 * metadata so the file is self-describing.
 *
 * @param config The architecture.
 * @param values Parameter values by key.
 * @param shapes Parameter shapes by key (from {@linkcode ParameterSpec}s).
 * @param extraMetadata More metadata strings (epoch, …).
 * @returns The file's bytes.
 */
export function serializeWeights(
  config: VMUNetConfig,
  values: ReadonlyMap<string, Float32Array>,
  shapes: readonly ParameterSpec[],
  extraMetadata: Record<string, string> = {},
): Uint8Array {
  const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
  for (const spec of shapes) {
    const v = values.get(spec.name);
    if (!v) throw new CheckpointError("<write>", `no value for parameter ${spec.name}`);
    tensors[spec.name] = { dtype: "F32", shape: spec.shape, data: v };
  }
  return serializeSafetensors(tensors, { ...configToMetadata(config), ...extraMetadata });
}

/** What {@linkcode mapPretrainedVMamba} loaded and left out. */
export interface PretrainedMapping {
  /** Checkpoint tensors under their VM-UNet keys (encoder and mirrored decoder). */
  tensors: Map<string, SafetensorsEntry>;
  /** VM-UNet keys filled from the encoder copy. */
  encoder: string[];
  /** VM-UNet keys filled from the mirrored decoder copy. */
  decoder: string[];
  /** Checkpoint keys with no VM-UNet counterpart (dropped, as the official code does). */
  dropped: string[];
}

const MIRROR: Record<string, string> = {
  "layers.0": "layers_up.3",
  "layers.1": "layers_up.2",
  "layers.2": "layers_up.1",
  "layers.3": "layers_up.0",
};

/**
 * Maps VMamba ImageNet weights (`vmamba_small_e238_ema.pth`'s `model` dict) onto VM-UNet as
 * the official `VMUNet.load_from` does (docs/spec.md §6.4): every key that exists in the model is
 * copied into the encoder, and `layers.i` is mirrored to `layers_up.(3−i)` for the decoder
 * (keys that exist only). PatchExpand2D, final_up and final_conv keep their initial values.
 *
 * @param pretrained The checkpoint's tensors (keys without the `vmunet.` prefix).
 * @param specs The model's parameters.
 * @returns The mapped tensors and what was used and dropped.
 */
export function mapPretrainedVMamba(
  pretrained: ReadonlyMap<string, SafetensorsEntry>,
  specs: readonly ParameterSpec[],
): PretrainedMapping {
  const modelKeys = new Set(specs.map((s) => s.name));
  const out = new Map<string, SafetensorsEntry>();
  const encoder: string[] = [];
  const decoder: string[] = [];
  const used = new Set<string>();
  for (const [key, value] of pretrained) {
    const name = `vmunet.${key}`;
    if (modelKeys.has(name)) {
      out.set(name, value);
      encoder.push(name);
      used.add(key);
    }
  }
  for (const [key, value] of pretrained) {
    // The official code tests `'layers.i' in k` in order 0..3 and renames the first match.
    const from = Object.keys(MIRROR).find((prefix) => key.includes(prefix));
    if (!from) continue;
    const name = `vmunet.${key.replaceAll(from, MIRROR[from])}`;
    if (modelKeys.has(name)) {
      out.set(name, value);
      decoder.push(name);
      used.add(key);
    }
  }
  const dropped = [...pretrained.keys()].filter((k) => !used.has(k));
  return { tensors: out, encoder, decoder, dropped };
}
