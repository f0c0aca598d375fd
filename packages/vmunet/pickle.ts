/**
 * A restricted unpickler: it interprets the pickle opcodes that `torch.save` writes and
 * builds plain data, accepting only the globals a checkpoint needs (ordered dicts, tensor
 * rebuilds, storages, numpy scalars). It never executes code: an unknown global is refused
 * with a {@linkcode PickleError} naming it (or, if asked, kept as an inert record).
 *
 * @module
 */

import { FileError } from "./file_error.ts";

/** Raised for a malformed pickle or a global outside the allow-list. */
export class PickleError extends FileError {
  /** `"PickleError"`. */
  override name = "PickleError";
}

/** A pickled Python object of a class outside the allow-list, kept as inert data. */
export interface OpaqueObject {
  /** `module.name` of the class or function. */
  readonly global: string;
  /** Constructor/reduce arguments. */
  readonly args: unknown[];
  /** The BUILD state, if any. */
  state?: unknown;
}

/** A reference to a storage, as `torch.save` writes it through `persistent_id`. */
export interface StorageRef {
  /** `FloatStorage`, `HalfStorage`, … */
  readonly storageType: string;
  /** Key of the storage's file inside the archive (`data/<key>`). */
  readonly key: string;
  /** Device location (`cpu`, `cuda:0`). */
  readonly location: string;
  /** Number of elements. */
  readonly numel: number;
}

/** A tensor rebuilt from a pickle: its storage, offset, shape and strides (in elements). */
export interface TensorRef {
  /** Marks the object as a tensor. */
  readonly kind: "tensor";
  /** The storage it views. */
  readonly storage: StorageRef;
  /** Offset in elements. */
  readonly storageOffset: number;
  /** Shape. */
  readonly shape: number[];
  /** Strides in elements. */
  readonly stride: number[];
}

/** Options of {@linkcode unpickle}. */
export interface UnpickleOptions {
  /** Name for error messages. */
  source?: string;
  /** Resolves `persistent_id` records (torch storages); default: refuse them. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Keep unknown globals as inert {@linkcode OpaqueObject}s instead of refusing (never runs code). */
  allowUnknownGlobals?: boolean;
}

const MARK = Symbol("mark");

type Callable = (args: unknown[]) => unknown;

const TORCH_STORAGES = new Set([
  "FloatStorage",
  "DoubleStorage",
  "HalfStorage",
  "BFloat16Storage",
  "LongStorage",
  "IntStorage",
  "ShortStorage",
  "CharStorage",
  "ByteStorage",
  "BoolStorage",
]);

function rebuildTensor(source: string, args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args as [StorageRef, number, number[], number[]];
  if (!storage || typeof storage !== "object" || !("storageType" in storage)) {
    throw new PickleError(source, "tensor rebuild without a storage");
  }
  return {
    kind: "tensor",
    storage,
    storageOffset: Number(offset),
    shape: (size as unknown[]).map(Number),
    stride: (stride as unknown[]).map(Number),
  };
}

function numpyDtypeCode(descr: string): { bytes: number; kind: "f" | "i" | "u" | "b" } {
  const m = /^[<>=|]?([fiub])(\d)$/.exec(descr);
  if (!m) return { bytes: 0, kind: "f" };
  return { bytes: Number(m[2]), kind: m[1] as "f" | "i" | "u" | "b" };
}

function allowedGlobal(source: string, module: string, name: string): Callable | undefined {
  const full = `${module}.${name}`;
  switch (full) {
    case "collections.OrderedDict":
      return () => new Map();
    case "torch._utils._rebuild_tensor_v2":
    case "torch._utils._rebuild_tensor":
      return (args) => rebuildTensor(source, args);
    case "torch._utils._rebuild_parameter":
    case "torch._utils._rebuild_parameter_with_state":
      return (args) => args[0];
    case "_codecs.encode":
      return (args) => {
        const [text, encoding] = args as [string, string];
        if (encoding !== "latin1" && encoding !== "latin-1") {
          throw new PickleError(source, `_codecs.encode with encoding ${encoding} is not accepted`);
        }
        return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
      };
    case "numpy.dtype":
      return (args) => ({ numpyDtype: String(args[0]) });
    case "numpy.core.multiarray.scalar":
    case "numpy._core.multiarray.scalar":
      return (args) => {
        const [dtype, data] = args as [{ numpyDtype: string }, Uint8Array];
        const code = numpyDtypeCode(dtype.numpyDtype);
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
        if (code.kind === "f" && code.bytes === 8) return view.getFloat64(0, true);
        if (code.kind === "f" && code.bytes === 4) return view.getFloat32(0, true);
        if (code.kind === "i" && code.bytes === 8) return Number(view.getBigInt64(0, true));
        if (code.kind === "i" && code.bytes === 4) return view.getInt32(0, true);
        if (code.kind === "b") return data[0] !== 0;
        throw new PickleError(source, `numpy scalar of dtype ${dtype.numpyDtype} is not supported`);
      };
  }
  if (module === "torch" && TORCH_STORAGES.has(name)) return () => name;
  return undefined;
}

/**
 * Interprets a pickle (protocols 0–5 opcodes that `torch.save` and `pickle.dump` emit for data).
 * Dicts become `Map`s, tuples and lists arrays, tensors {@linkcode TensorRef}s.
 *
 * @param bytes The pickle stream.
 * @param options Source name, persistent-id resolver, unknown-global policy.
 * @returns The unpickled value.
 * @throws {PickleError} on a malformed stream or a refused global (its name is in the message).
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): unknown {
  const source = options.source ?? "<pickle>";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const decoder = new TextDecoder();
  let pos = 0;

  const need = (n: number) => {
    if (pos + n > bytes.length) throw new PickleError(source, "pickle truncated");
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), pos += 2, view.getUint16(pos - 2, true));
  const u32 = () => (need(4), pos += 4, view.getUint32(pos - 4, true));
  const i32 = () => (need(4), pos += 4, view.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    pos += 8;
    const v = view.getBigUint64(pos - 8, true);
    if (v > BigInt(bytes.length)) throw new PickleError(source, "length beyond the pickle's end");
    return Number(v);
  };
  // The binary argument (a value, a length or a memo key) of the opcodes that carry one.
  const binaryArgument: Record<number, () => number> = {
    0x4a: i32, // BININT
    0x4b: u8, // BININT1
    0x4d: u16, // BININT2
    0x8a: u8, // LONG1
    0x8b: u32, // LONG4
    0x58: u32, // BINUNICODE
    0x8c: u8, // SHORT_BINUNICODE
    0x8d: u64, // BINUNICODE8
    0x54: i32, // BINSTRING
    0x55: u8, // SHORT_BINSTRING
    0x42: u32, // BINBYTES
    0x43: u8, // SHORT_BINBYTES
    0x8e: u64, // BINBYTES8
    0x96: u64, // BYTEARRAY8
    0x68: u8, // BINGET
    0x6a: u32, // LONG_BINGET
    0x71: u8, // BINPUT
    0x72: u32, // LONG_BINPUT
  };
  const take = (n: number) => {
    need(n);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new PickleError(source, "pickle truncated (no newline)");
    const s = decoder.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const popMark = (): unknown[] => {
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i] === MARK) {
        const items = stack.slice(i + 1);
        stack.length = i;
        return items;
      }
    }
    throw new PickleError(source, "MARK not found");
  };
  const pop = () => {
    if (stack.length === 0) throw new PickleError(source, "stack underflow");
    return stack.pop();
  };
  const top = () => stack[stack.length - 1];
  const resolveGlobal = (module: string, name: string): unknown => {
    const fn = allowedGlobal(source, module, name);
    if (fn) return { callable: fn, global: `${module}.${name}` };
    if (options.allowUnknownGlobals) {
      return {
        callable: (args: unknown[]): OpaqueObject => ({ global: `${module}.${name}`, args }),
        global: `${module}.${name}`,
      };
    }
    throw new PickleError(
      source,
      `refusing global "${module}.${name}": a checkpoint needs only tensors, storages and ` +
        `dicts, and loading one must never run code`,
    );
  };
  const call = (fn: unknown, args: unknown[]): unknown => {
    const f = fn as { callable?: Callable; global?: string };
    if (!f || typeof f.callable !== "function") {
      throw new PickleError(source, "REDUCE on something that is not an accepted global");
    }
    return f.callable(args);
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) {
      // BUILD-less objects whose state is set item-wise: keep as opaque.
      throw new PickleError(source, "SETITEM on a non-dict");
    }
    for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: { // DICT
        const items = popMark();
        const d = new Map();
        setItems(d, items);
        stack.push(d);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top() as Set<unknown>;
        for (const x of items) s.add(x);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        (top() as unknown[]).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        (top() as unknown[]).push(...items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x4a: // BININT
      case 0x4b: // BININT1
      case 0x4d: // BININT2
        stack.push(binaryArgument[op]());
        break;
      case 0x8a: // LONG1
      case 0x8b: { // LONG4
        const n = binaryArgument[op]();
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        break;
      }
      case 0x49: { // INT (text)
        const s = line();
        stack.push(s === "01" ? true : s === "00" ? false : Number(s));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(Number(line().replace(/L$/, "")));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        pos += 8;
        stack.push(view.getFloat64(pos - 8, false));
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number(line()));
        break;
      case 0x58: // BINUNICODE
      case 0x8c: // SHORT_BINUNICODE
      case 0x8d: // BINUNICODE8
      case 0x54: // BINSTRING
      case 0x55: // SHORT_BINSTRING
        stack.push(decoder.decode(take(binaryArgument[op]())));
        break;
      case 0x56: // UNICODE (raw-unicode-escape line)
        stack.push(line());
        break;
      case 0x53: { // STRING (quoted)
        const s = line();
        stack.push(s.slice(1, -1));
        break;
      }
      case 0x42: // BINBYTES
      case 0x43: // SHORT_BINBYTES
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(binaryArgument[op]()).slice());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x71: // BINPUT
      case 0x72: // LONG_BINPUT
        memo.set(binaryArgument[op](), top());
        break;
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: { // GET
        const key = op === 0x67 ? Number(line()) : binaryArgument[op]();
        if (!memo.has(key)) throw new PickleError(source, `memo key ${key} missing`);
        stack.push(memo.get(key));
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop() as string;
        const module = pop() as string;
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x52: // REDUCE (a callable and its arguments)
      case 0x81: // NEWOBJ (a class and its arguments)
      case 0x92: { // NEWOBJ_EX (the same, then keyword arguments, dropped)
        if (op === 0x92) pop();
        const args = pop() as unknown[];
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof Map && state instanceof Map) {
          for (const [k, v] of state) obj.set(k, v);
        } else if (obj && typeof obj === "object" && "global" in obj) {
          (obj as OpaqueObject).state = state;
        }
        // Tensors and numpy dtypes carry BUILD states (hooks, dtype flags) that hold no data.
        break;
      }
      case 0x51: // BINPERSID (the id on the stack)
      case 0x50: { // PERSID (the id as a text line)
        const pid = op === 0x51 ? pop() : line();
        if (!options.persistentLoad) {
          throw new PickleError(source, "persistent id outside a checkpoint archive");
        }
        stack.push(options.persistentLoad(pid));
        break;
      }
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      default:
        throw new PickleError(
          source,
          `unsupported pickle opcode 0x${op.toString(16)} at byte ${pos - 1}`,
        );
    }
  }
}
