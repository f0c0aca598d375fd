/**
 * Carries typed errors across the worker boundary (structured clone drops their class).
 *
 * @module
 */

import {
  DatasetError,
  DatasetFileError,
  DatasetLayoutError,
  DatasetOptionError,
  DecodeError,
  MissingKeyError,
} from "./errors.ts";

/** A plain-object form of an error. */
export interface WireError {
  name: string;
  message: string;
  file?: string;
  key?: string;
  option?: string;
  stack?: string;
}

/** Serialises an error for `postMessage`. */
export function toWire(e: unknown): WireError {
  const err = e as Error & { file?: string; key?: string; option?: string };
  return {
    name: err?.name ?? "Error",
    message: err?.message ?? String(e),
    file: err?.file,
    key: err?.key,
    option: err?.option,
    stack: err?.stack,
  };
}

const CLASSES: Record<string, { prototype: Error }> = {
  DatasetError,
  DatasetFileError,
  DecodeError,
  DatasetLayoutError,
  MissingKeyError,
  DatasetOptionError,
};

/** Rebuilds an error of the original class with the original message and fields. */
export function fromWire(w: WireError): Error {
  const cls = CLASSES[w.name];
  const err: Error = cls ? Object.create(cls.prototype) : new Error();
  Object.defineProperty(err, "message", { value: w.message, writable: true, configurable: true });
  Object.defineProperty(err, "name", { value: w.name, writable: true, configurable: true });
  for (const k of ["file", "key", "option"] as const) {
    if (w[k] !== undefined) Object.defineProperty(err, k, { value: w[k], enumerable: true });
  }
  Object.defineProperty(err, "stack", {
    value: `${w.name}: ${w.message}\n    (in a loader worker)\n${w.stack ?? ""}`,
    configurable: true,
  });
  return err;
}
