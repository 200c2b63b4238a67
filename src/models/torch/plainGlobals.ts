/**
 * Python objects that training scripts save beside the weights and that are data, not code: the command-line
 * arguments (`'args': argparse.Namespace(...)` in torchvision's references and timm's train.py), paths in them
 * (`pathlib.PosixPath`), sets, `collections.defaultdict` histories, `torch.device` and torch dtypes. The pickle names
 * their classes; this module builds the plain value each stands for instead of calling anything:
 *
 * - `argparse.Namespace` → a `namespace` object whose value is a dict of its attributes (filled by BUILD);
 * - `pathlib.*Path(parts…)` → the path as a string; `set`/`frozenset` → a list; `bytearray` → bytes;
 * - `collections.defaultdict(factory)` → a dict (its factory is named, never called);
 * - the builtin types `list`, `dict`, `tuple`, `int`, `float`, `str`, `bool` called on plain values → those values;
 * - `torch.device(type[, index])` → a string such as `cuda:0`; `torch.float32` and the other dtypes → their names.
 */
import { isKind, type PyDict, type PyObject, type PyTuple, type PyValue } from "./pickle.js";

type Handler = (args: PyValue[]) => PyValue;

const TORCH_DTYPES = ["float16", "float32", "float64", "bfloat16", "half", "float", "double", "complex64", "complex128", "uint8", "int8", "int16", "int32", "int64", "short", "int", "long", "bool"];

/** The plain-data globals the reader allows, by `module.name` (Python 3's `builtins` and Python 2's `__builtin__`). */
export function plainGlobals(): Map<string, Handler> {
  const globals = new Map<string, Handler>();
  globals.set("argparse.Namespace", () => ({ kind: "object", type: "namespace", value: { kind: "dict", entries: [] } }));
  for (const cls of ["Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath"]) {
    const separator = cls.includes("Windows") ? "\\" : "/";
    globals.set(`pathlib.${cls}`, (args) => joinPath(args.map(String), separator));
  }
  globals.set("collections.defaultdict", () => ({ kind: "dict", entries: [] }));
  const items = (value: PyValue | undefined): PyValue[] => (value === undefined || value === null ? [] : Array.isArray(value) ? [...value] : isKind(value, "tuple") ? [...(value as PyTuple).items] : isKind(value, "dict") ? (value as PyDict).entries.map(([k]) => k) : []);
  const builtins: Record<string, Handler> = {
    set: (args) => items(args[0]),
    frozenset: (args) => items(args[0]),
    list: (args) => items(args[0]),
    tuple: (args) => ({ kind: "tuple", items: items(args[0]) }),
    dict: (args) => ({ kind: "dict", entries: isKind(args[0], "dict") ? [...(args[0] as PyDict).entries] : [] }),
    int: (args) => (args.length === 0 ? 0 : typeof args[0] === "string" ? Number.parseInt(args[0], Number(args[1] ?? 10)) : Math.trunc(Number(args[0]))),
    float: (args) => (args.length === 0 ? 0 : Number(args[0])),
    str: (args) => (args.length === 0 ? "" : String(args[0])),
    bool: (args) => Boolean(args[0]),
    // bytearray(text, "latin-1") at protocol 2, as _codecs.encode for bytes.
    bytearray: (args) => (args[0] instanceof Uint8Array ? args[0].slice() : Uint8Array.from(String(args[0] ?? ""), (c) => c.charCodeAt(0) & 0xff)),
  };
  for (const module of ["builtins", "__builtin__"]) for (const [name, handler] of Object.entries(builtins)) globals.set(`${module}.${name}`, handler);
  globals.set("torch.device", (args) => (args.length > 1 && args[1] !== null ? `${String(args[0])}:${String(args[1])}` : String(args[0])));
  // A torch dtype pickles as the global torch.<name>; it is only named, never called.
  for (const dtype of TORCH_DTYPES) {
    globals.set(`torch.${dtype}`, () => {
      throw new Error(`torch.${dtype} called`);
    });
  }
  return globals;
}

/** Applies BUILD to an `argparse.Namespace`: its state is the dict of attributes. Returns false for other targets. */
export function buildPlain(target: PyValue, state: PyValue): boolean {
  if (!isKind(target, "object") || (target as PyObject).type !== "namespace") return false;
  if (isKind(state, "dict")) ((target as PyObject).value as PyDict).entries.push(...(state as PyDict).entries);
  return true;
}

function joinPath(parts: string[], separator: string): string {
  let path = "";
  for (const part of parts) path = path === "" ? part : path.endsWith(separator) ? path + part : `${path}${separator}${part}`;
  return path;
}
