/**
 * A pickle reader that never runs code. Python's unpickler calls whatever callable a pickle names; this one builds
 * plain values and knows a short allow-list of globals, given by the caller (for checkpoints: what torch.save uses
 * for tensors and containers, numpy's scalars, dtypes and arrays (./numpy.ts) and other plain data such as argparse
 * namespaces (./plainGlobals.ts)). A pickle that names anything else is refused with `unsafe-pickle` at the moment it
 * names it, before any use.
 */
import { fail } from "../../errors.js";

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PyGlobal
  | PyObject;

/** A tuple: frozen list, told apart from lists only where it matters (persistent ids). */
export interface PyTuple {
  kind: "tuple";
  items: PyValue[];
}

/** A dict in insertion order; keys may be any value (state_dict keys are strings). */
export interface PyDict {
  kind: "dict";
  entries: Array<[PyValue, PyValue]>;
}

export interface PyGlobal {
  kind: "global";
  name: string;
}

/** What an allowed global returns when called: the handler's result, tagged. */
export interface PyObject {
  kind: "object";
  type: string;
  value: unknown;
}

export interface UnpickleOptions {
  /** Where the pickle came from, for messages. */
  source: string;
  /** The allowed globals, by `module.name`, and what calling each yields. */
  globals: ReadonlyMap<string, (args: PyValue[]) => PyValue>;
  /** Resolves a persistent id (torch's storage references). */
  persistentLoad: (pid: PyValue) => PyValue;
  /**
   * Applies a BUILD opcode's state to the object on the stack, in place (numpy dtypes and arrays carry their data
   * there). Default: the state is dropped (an OrderedDict's _metadata, a tensor's hooks: nothing lesion needs).
   */
  build?: (target: PyValue, state: PyValue) => void;
}

export interface Unpickled {
  value: PyValue;
  /** Offset just past the STOP opcode: the legacy format concatenates several pickles. */
  end: number;
}

const MARK = Symbol("mark");
type StackItem = PyValue | typeof MARK;

export function unpickle(bytes: Uint8Array, offset: number, options: UnpickleOptions): Unpickled {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PyValue>();
  let at = offset;
  const corrupt = (why: string): never => fail("bad-checkpoint", `${options.source}: truncated or corrupt checkpoint (${why})`, { name: options.source });
  const need = (n: number) => {
    if (at + n > bytes.length) corrupt(`pickle ends at byte ${bytes.length} inside an opcode at ${at}`);
  };
  const u8 = () => (need(1), bytes[at++]);
  const u16 = () => (need(2), (at += 2), view.getUint16(at - 2, true));
  const u32 = () => (need(4), (at += 4), view.getUint32(at - 4, true));
  const u64 = () => (need(8), (at += 8), Number(view.getBigUint64(at - 8, true)));
  const take = (n: number) => (need(n), (at += n), bytes.subarray(at - n, at));
  const text = (n: number) => new TextDecoder().decode(take(n));
  const line = () => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) corrupt("unterminated text line");
    const s = new TextDecoder("latin1").decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) corrupt("stack underflow");
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) corrupt("no MARK on the stack");
    const items = stack.splice(i) as PyValue[];
    return items.slice(1);
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) corrupt("empty stack");
    return v as PyValue;
  };
  const global = (module: string, name: string): PyGlobal => {
    const full = `${module}.${name}`;
    if (!options.globals.has(full)) {
      // torch.save(model) pickles the module's class: name the usual fix.
      // The model's own class may live in any module of the user's (`models.NamedMLP`): a class name is capitalised.
      const whole = /^(__main__|torch\.nn\.modules|torchvision\.models)\./.test(full) ? " (a whole model saved with torch.save(model): save model.state_dict() instead)" : /^[A-Z]/.test(name) ? " (a whole model saved with torch.save(model)? then save model.state_dict() instead)" : "";
      fail("unsafe-pickle", `${options.source}: the pickle asks for ${full}; lesion loads only tensors, numpy data and plain containers and never runs code${whole}`, { source: options.source, global: full });
    }
    return { kind: "global", name: full };
  };
  const call = (fn: PyValue, args: PyValue[]): PyValue => {
    if (!isKind(fn, "global")) corrupt("call of a value that is not a global");
    return options.globals.get((fn as PyGlobal).name)!(args);
  };
  const setItems = (target: PyValue, items: PyValue[]) => {
    if (!isKind(target, "dict")) corrupt("SETITEM on a value that is not a dict");
    for (let i = 0; i + 1 < items.length; i += 2) (target as PyDict).entries.push([items[i], items[i + 1]]);
  };
  const longLE = (raw: Uint8Array): number | bigint => {
    if (raw.length === 0) return 0;
    let value = 0n;
    for (let i = raw.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i]);
    if (raw[raw.length - 1] & 0x80) value -= 1n << BigInt(8 * raw.length);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: at };
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push({ kind: "dict", entries: [] });
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push({ kind: "tuple", items: [] });
        break;
      case 0x74: // TUPLE
        stack.push({ kind: "tuple", items: popMark() });
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = op - 0x84;
        const items = Array.from({ length: n }, pop).reverse();
        stack.push({ kind: "tuple", items });
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const dict: PyDict = { kind: "dict", entries: [] };
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) corrupt("APPEND to a value that is not a list");
        (list as PyValue[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) corrupt("APPENDS to a value that is not a list");
        (list as PyValue[]).push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const set = top();
        if (Array.isArray(set)) set.push(...items);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(at, true));
        at += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(longLE(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(longLE(take(u32())));
        break;
      case 0x49: {
        // INT (text; "00"/"01" are False/True)
        const s = line();
        stack.push(s === "00" ? false : s === "01" ? true : Number.parseInt(s, 10));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(Number.parseInt(line().replace(/L$/, ""), 10));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(at, false));
        at += 8;
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number.parseFloat(line()));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x54: // BINSTRING
        stack.push(new TextDecoder("latin1").decode(take(u32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(new TextDecoder("latin1").decode(take(u8())));
        break;
      case 0x53: // STRING (quoted text)
        stack.push(line().replace(/^(['"])(.*)\1$/, "$2"));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text)
        stack.push(line());
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
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
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") corrupt("STACK_GLOBAL without two strings");
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!isKind(args, "tuple")) corrupt("REDUCE arguments are not a tuple");
        stack.push(call(fn, (args as PyTuple).items));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(call(cls, isKind(args, "tuple") ? (args as PyTuple).items : []));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop();
        const args = pop();
        const cls = pop();
        stack.push(call(cls, isKind(args, "tuple") ? (args as PyTuple).items : []));
        break;
      }
      case 0x62: {
        // BUILD: object state; only the `build` option interprets it.
        const state = pop();
        options.build?.(top(), state);
        break;
      }
      case 0x51: // BINPERSID
        stack.push(options.persistentLoad(pop()));
        break;
      case 0x50: // PERSID
        stack.push(options.persistentLoad(line()));
        break;
      case 0x70: // PUT
        memo.set(Number.parseInt(line(), 10), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x67 ? Number.parseInt(line(), 10) : op === 0x68 ? u8() : u32();
        if (!memo.has(key)) corrupt(`memo key ${key} was never stored`);
        stack.push(memo.get(key)!);
        break;
      }
      case 0x30: // POP
        stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x69: // INST
      case 0x6f: // OBJ
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        fail("unsafe-pickle", `${options.source}: the pickle builds an arbitrary object (opcode 0x${op.toString(16)}); lesion loads only tensors, numpy data and plain containers and never runs code`, { source: options.source, opcode: op });
      default:
        corrupt(`unknown pickle opcode 0x${op.toString(16)} at byte ${at - 1}`);
    }
  }
}

export function isKind<K extends "tuple" | "dict" | "global" | "object">(value: unknown, kind: K): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && (value as { kind?: string }).kind === kind;
}
