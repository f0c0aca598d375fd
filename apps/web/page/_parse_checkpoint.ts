// Stand-in for @vmunet/vmunet's byte-level parseCheckpoint until the portable readers land
// (branch `browser`); same signature. Replaced by the package's function on merge.
import {
  type CheckpointFile,
  configFromMetadata,
  parsePth,
  type ParsePthOptions,
  stateDictOf,
} from "@vmunet/vmunet";
import { parseSafetensors } from "@vmunet/tensor/safetensors";

export function parseCheckpoint(
  bytes: Uint8Array,
  source: string,
  options: ParsePthOptions & { key?: string } = {},
): Promise<CheckpointFile> {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b) {
    const tensors = stateDictOf(parsePth(bytes, source, options), options.key);
    return Promise.resolve({ source, format: "pth", tensors, metadata: {} });
  }
  const file = parseSafetensors(bytes, source);
  return Promise.resolve({
    source,
    format: "safetensors",
    tensors: new Map(file.tensors),
    metadata: { ...file.metadata },
    config: file.metadata.dims !== undefined ? configFromMetadata(file.metadata) : undefined,
  });
}
