/**
 * VM-UNet configurations and the named presets.
 *
 * @module
 */

/** Raised for an invalid configuration or preset name; the message names the field. */
export class ConfigError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** The architecture hyper-parameters of VM-UNet (docs/spec.md §2.1). */
export interface VMUNetConfig {
  /** Stage widths: a number d means [d, 2d, 4d, 8d]. */
  dims: number | number[];
  /** VSS blocks per encoder stage. */
  depths: number[];
  /** VSS blocks per decoder stage (`layers_up.0..3`). */
  depthsDecoder: number[];
  /** SSM state size N. */
  dState: number;
  /** Stochastic-depth rate, spread linearly over the blocks. */
  dropPathRate: number;
  /** Output classes (1 = sigmoid output). */
  numClasses: number;
  /** Input channels: 1 is repeated to 3 as the official model does; 3 is used as is. */
  inChannels: number;
}

/** The paper's model. */
const VMUNET_S: Readonly<VMUNetConfig> = {
  dims: 96,
  depths: [2, 2, 2, 2],
  depthsDecoder: [2, 2, 2, 1],
  dState: 16,
  dropPathRate: 0.2,
  numClasses: 1,
  inChannels: 3,
};

/**
 * The paper's model (`vmunet-s`) and a small one for CPU work (`vmunet-t`: the same stages
 * at width 16, drop-path 0.1).
 */
export const PRESETS: Readonly<Record<string, Readonly<VMUNetConfig>>> = {
  "vmunet-s": VMUNET_S,
  "vmunet-t": { ...VMUNET_S, dims: 16, dropPathRate: 0.1 },
};

/**
 * Returns a preset, optionally overriding fields.
 *
 * @param name `vmunet-s` or `vmunet-t`.
 * @param overrides Fields to change (e.g. `numClasses: 9`).
 * @returns A validated configuration.
 * @throws {ConfigError} for an unknown name (the valid ones are listed).
 */
export function preset(name: string, overrides: Partial<VMUNetConfig> = {}): VMUNetConfig {
  const base = PRESETS[name];
  if (!base) {
    throw new ConfigError(
      `unknown model preset "${name}"; valid presets: ${Object.keys(PRESETS).join(", ")}`,
    );
  }
  return validateConfig({ ...structuredClone(base), ...overrides });
}

/** The four stage widths of a configuration. */
export function stageDims(config: VMUNetConfig): number[] {
  const d = config.dims;
  return typeof d === "number" ? [d, 2 * d, 4 * d, 8 * d] : [...d];
}

/**
 * Checks a configuration's fields and returns it.
 *
 * @throws {ConfigError} naming the field at fault.
 */
export function validateConfig(config: VMUNetConfig): VMUNetConfig {
  const dims = stageDims(config);
  const positiveInt = (v: number) => Number.isInteger(v) && v > 0;
  if (dims.length !== 4 || !dims.every(positiveInt)) {
    throw new ConfigError(`dims must be a positive integer or 4 of them, got ${config.dims}`);
  }
  if (dims[0] % 4 !== 0) {
    throw new ConfigError(`dims[0] = ${dims[0]} must be a multiple of 4 (final 4× expand)`);
  }
  for (let i = 1; i < 4; i++) {
    if (dims[i] !== 2 * dims[i - 1]) {
      throw new ConfigError(`dims must double per stage (PatchMerging2D), got ${dims}`);
    }
  }
  if (config.depths.length !== 4 || !config.depths.every(positiveInt)) {
    throw new ConfigError(`depths must be 4 positive integers, got ${config.depths}`);
  }
  if (config.depthsDecoder.length !== 4 || !config.depthsDecoder.every(positiveInt)) {
    throw new ConfigError(`depthsDecoder must be 4 positive integers, got ${config.depthsDecoder}`);
  }
  if (!positiveInt(config.dState)) {
    throw new ConfigError(`dState must be > 0, got ${config.dState}`);
  }
  if (!positiveInt(config.numClasses)) {
    throw new ConfigError(`numClasses must be > 0, got ${config.numClasses}`);
  }
  if (config.inChannels !== 1 && config.inChannels !== 3) {
    throw new ConfigError(`inChannels must be 1 or 3, got ${config.inChannels}`);
  }
  if (!(config.dropPathRate >= 0 && config.dropPathRate < 1)) {
    throw new ConfigError(`dropPathRate must be in [0, 1), got ${config.dropPathRate}`);
  }
  return config;
}

function parseList(field: string, text: string | undefined): number[] {
  if (text === undefined) throw new ConfigError(`weights metadata lacks "${field}"`);
  const values = text.replace(/[\[\]\s]/g, "").split(",").filter((s) => s !== "").map(Number);
  if (values.some((v) => !Number.isFinite(v))) {
    throw new ConfigError(`weights metadata "${field}" = "${text}" is not a list of numbers`);
  }
  return values;
}

/**
 * Builds a configuration from safetensors metadata as the golden fixtures and our checkpoints
 * write it (`dims`, `num_classes`, `in_ch`, `depths`, `depths_decoder`, `d_state`).
 *
 * @param metadata The `__metadata__` strings.
 * @returns The configuration (drop path 0 unless `drop_path_rate` is given).
 * @throws {ConfigError} naming a missing or malformed key.
 */
export function configFromMetadata(metadata: Readonly<Record<string, string>>): VMUNetConfig {
  const dims = parseList("dims", metadata.dims);
  const one = (field: string) => {
    const [v] = parseList(field, metadata[field]);
    return v;
  };
  return validateConfig({
    dims: dims.length === 1 ? dims[0] : dims,
    depths: parseList("depths", metadata.depths),
    depthsDecoder: parseList("depths_decoder", metadata.depths_decoder),
    dState: one("d_state"),
    numClasses: one("num_classes"),
    inChannels: metadata.in_ch === undefined ? 3 : one("in_ch"),
    dropPathRate: metadata.drop_path_rate === undefined ? 0 : one("drop_path_rate"),
  });
}

/** The metadata strings that {@linkcode configFromMetadata} reads back. */
export function configToMetadata(config: VMUNetConfig): Record<string, string> {
  return {
    dims: String(stageDims(config)[0]),
    num_classes: String(config.numClasses),
    in_ch: String(config.inChannels),
    depths: config.depths.join(","),
    depths_decoder: config.depthsDecoder.join(","),
    d_state: String(config.dState),
    drop_path_rate: String(config.dropPathRate),
  };
}
