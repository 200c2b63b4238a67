/**
 * numpy values in a pickle, decoded as plain data without running code. Training scripts put numpy scalars
 * (`'acc': np.float64(…)`, an `np.int64` epoch), dtypes and arrays (class counts, confusion matrices) beside the
 * weights; numpy pickles them as calls to a handful of its own functions, which this module interprets from their
 * documented byte layout instead of calling them:
 *
 * - `numpy.dtype(str, align, copy)` followed by BUILD with the state tuple
 *   `(version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])`;
 * - `numpy.core.multiarray.scalar(dtype, bytes)` (the value's raw bytes; for object dtype the object itself);
 * - `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')` followed by BUILD with
 *   `(version, shape, dtype, isFortran, rawdata)` (rawdata: bytes, or a list of objects for object arrays);
 * - `numpy.core.numeric._frombuffer(buffer, dtype, shape, order)` (pickle protocol 5);
 *
 * and the same under numpy 2's module names (`numpy._core.*`). A scalar becomes the plain value (number, bigint for
 * 64-bit integers beyond 2^53, boolean, string); a dtype and an array become tagged objects (`numpy-dtype`,
 * `ndarray`). Anything else from numpy (subclasses such as `numpy.ma`, `numpy.random` states) is not in the list and
 * is refused by the reader like any other code.
 */
import { isKind, type PyObject, type PyTuple, type PyValue } from "./pickle.js";
import { halfToFloat } from "../../onnx/tensorData.js";

/** A numpy dtype as the pickle describes it. `kind` is numpy's kind character (b, i, u, f, c, U, S, O, M, m, V). */
export interface NumpyDtype {
  /** The type string the pickle names, e.g. `f8`, `i4`, `U5`, `O8`. */
  str: string;
  kind: string;
  /** Bytes per element. */
  itemsize: number;
  /** `<` little-endian, `>` big-endian, `|` not applicable, `=` native (little-endian here). */
  byteorder: string;
}

/** A numpy array: its dtype, shape, and values in row-major order (typed for numeric dtypes, a list otherwise). */
export interface NumpyArray {
  dtype: NumpyDtype | null;
  shape: number[];
  values: ArrayLike<number> | PyValue[] | null;
}

type Handler = (args: PyValue[]) => PyValue;

/** The numpy globals the reader allows, by `module.name`, for numpy 1 and numpy 2 module names. */
export function numpyGlobals(): Map<string, Handler> {
  const globals = new Map<string, Handler>();
  const dtype: Handler = (args) => ({ kind: "object", type: "numpy-dtype", value: parseDtype(String(args[0])) });
  // numpy.ndarray is named only as _reconstruct's first argument, never called.
  const ndarrayClass: Handler = () => {
    throw new Error("numpy.ndarray called directly");
  };
  const reconstruct: Handler = (args) => {
    const cls = args[0];
    if (!isKind(cls, "global") || (cls as { name: string }).name !== "numpy.ndarray") throw new Error("numpy _reconstruct of a class other than numpy.ndarray");
    const array: NumpyArray = { dtype: null, shape: [0], values: null };
    return { kind: "object", type: "ndarray", value: array };
  };
  const scalar: Handler = (args) => {
    const type = dtypeOf(args[0]);
    if (type.kind === "O") return args[1] ?? null;
    const raw = args[1];
    if (!(raw instanceof Uint8Array)) throw new Error("numpy scalar without its bytes");
    const values = decodeValues(raw, type, 1);
    return Array.isArray(values) ? values[0] : (values as ArrayLike<number>)[0];
  };
  const frombuffer: Handler = (args) => {
    const [buffer, type, shape, order] = args;
    if (!(buffer instanceof Uint8Array)) throw new Error("numpy _frombuffer without a buffer");
    const dims = shapeOf(shape);
    return { kind: "object", type: "ndarray", value: arrayFromBytes(buffer, dtypeOf(type), dims, order === "F") };
  };
  globals.set("numpy.dtype", dtype);
  globals.set("numpy.ndarray", ndarrayClass);
  for (const core of ["numpy.core", "numpy._core"]) {
    globals.set(`${core}.multiarray.scalar`, scalar);
    globals.set(`${core}.multiarray._reconstruct`, reconstruct);
    globals.set(`${core}.numeric._frombuffer`, frombuffer);
  }
  return globals;
}

/**
 * Applies a BUILD state to a numpy dtype or array made by `numpyGlobals()` (in place, as Python's unpickler does, so
 * memoised references see it). Returns false for any other target.
 */
export function buildNumpy(target: PyValue, state: PyValue): boolean {
  if (!isKind(target, "object")) return false;
  const object = target as PyObject;
  const items = isKind(state, "tuple") ? (state as PyTuple).items : null;
  if (object.type === "numpy-dtype") {
    const type = object.value as NumpyDtype;
    if (items) {
      const [, byteorder, , , , elsize] = items;
      if (typeof byteorder === "string") type.byteorder = byteorder;
      if (typeof elsize === "number" && elsize > 0) type.itemsize = elsize;
    }
    return true;
  }
  if (object.type === "ndarray") {
    if (!items || items.length < 5) throw new Error("numpy array state that is not (version, shape, dtype, fortran, data)");
    const [, shape, type, fortran, raw] = items;
    const dims = shapeOf(shape);
    const dtype = dtypeOf(type);
    const array = object.value as NumpyArray;
    if (Array.isArray(raw)) {
      // Object arrays pickle their elements as a list, in C order whatever the flag says (numpy's tolist order).
      Object.assign(array, { dtype, shape: dims, values: raw });
    } else if (raw instanceof Uint8Array) {
      Object.assign(array, arrayFromBytes(raw, dtype, dims, fortran === true));
    } else throw new Error("numpy array data that is neither bytes nor a list");
    return true;
  }
  return false;
}

function parseDtype(str: string): NumpyDtype {
  const match = /^([<>|=]?)([a-zA-Z])(\d*)/.exec(str);
  if (!match) throw new Error(`numpy dtype '${str}' has no type code`);
  const [, order, kind, digits] = match;
  const size = digits === "" ? (kind === "b" || kind === "?" ? 1 : kind === "O" ? 8 : 0) : Number(digits);
  // U<n> counts characters of 4 bytes; the BUILD state's elsize (bytes) overrides it anyway.
  return { str, kind: kind === "?" ? "b" : kind, itemsize: kind === "U" ? size * 4 : size, byteorder: order || "=" };
}

function dtypeOf(value: PyValue): NumpyDtype {
  if (!isKind(value, "object") || (value as PyObject).type !== "numpy-dtype") throw new Error("numpy value without a dtype");
  return (value as PyObject).value as NumpyDtype;
}

function shapeOf(value: PyValue): number[] {
  const items = isKind(value, "tuple") ? (value as PyTuple).items : Array.isArray(value) ? value : null;
  if (!items || items.some((d) => typeof d !== "number" || d < 0)) throw new Error("numpy array shape that is not a tuple of sizes");
  return items as number[];
}

function arrayFromBytes(raw: Uint8Array, dtype: NumpyDtype, shape: number[], fortran: boolean): NumpyArray {
  const count = shape.reduce((a, b) => a * b, 1);
  if (dtype.itemsize > 0 && raw.length < count * dtype.itemsize) throw new Error(`numpy array of ${count} ${dtype.str} values has ${raw.length} bytes`);
  const values = decodeValues(raw, dtype, count);
  return { dtype, shape, values: fortran && shape.length > 1 ? toRowMajor(values, shape) : values };
}

/**
 * Decodes `count` values of a dtype. Numeric kinds give a typed array (64-bit integers as float64, exact to 2^53:
 * the values are metadata, not weights); strings give strings; other kinds (datetimes, structured records, long
 * double) give each element's raw bytes, kept as data without interpretation.
 */
function decodeValues(raw: Uint8Array, dtype: NumpyDtype, count: number): ArrayLike<number> | PyValue[] {
  const { kind, itemsize } = dtype;
  const little = dtype.byteorder !== ">";
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const numeric = (read: (at: number) => number, out: Float64Array | Float32Array = new Float64Array(count)) => {
    for (let i = 0; i < count; i++) out[i] = read(i * itemsize);
    return out;
  };
  if (kind === "b") return Array.from(raw.subarray(0, count), (v) => v !== 0);
  if (kind === "f" && itemsize === 8) return numeric((at) => view.getFloat64(at, little));
  if (kind === "f" && itemsize === 4) return numeric((at) => view.getFloat32(at, little), new Float32Array(count));
  if (kind === "f" && itemsize === 2) return numeric((at) => halfToFloat(view.getUint16(at, little)), new Float32Array(count));
  if (kind === "i" || kind === "u") {
    const signed = kind === "i";
    switch (itemsize) {
      case 1:
        return numeric((at) => (signed ? view.getInt8(at) : view.getUint8(at)));
      case 2:
        return numeric((at) => (signed ? view.getInt16(at, little) : view.getUint16(at, little)));
      case 4:
        return numeric((at) => (signed ? view.getInt32(at, little) : view.getUint32(at, little)));
      case 8:
        return Array.from({ length: count }, (_, i) => {
          const big = signed ? view.getBigInt64(i * 8, little) : view.getBigUint64(i * 8, little);
          return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
        });
    }
  }
  if (kind === "c" && (itemsize === 8 || itemsize === 16)) {
    const half = itemsize / 2;
    const read = (at: number) => (half === 8 ? view.getFloat64(at, little) : view.getFloat32(at, little));
    return Array.from({ length: count }, (_, i): PyValue => ({ kind: "tuple", items: [read(i * itemsize), read(i * itemsize + half)] }));
  }
  if (kind === "U") {
    return Array.from({ length: count }, (_, i) => {
      let text = "";
      for (let at = i * itemsize; at < (i + 1) * itemsize; at += 4) {
        const code = view.getUint32(at, little);
        if (code === 0) break;
        text += String.fromCodePoint(code);
      }
      return text;
    });
  }
  if (kind === "S") {
    return Array.from({ length: count }, (_, i) => {
      const bytes = raw.subarray(i * itemsize, (i + 1) * itemsize);
      const end = bytes.indexOf(0);
      return new TextDecoder("latin1").decode(end < 0 ? bytes : bytes.subarray(0, end));
    });
  }
  return Array.from({ length: count }, (_, i) => raw.slice(i * itemsize, (i + 1) * itemsize));
}

function toRowMajor(values: ArrayLike<number> | PyValue[], shape: number[]): PyValue[] | Float64Array {
  const count = values.length;
  const out: Array<number | PyValue> = new Array(count);
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    // Fortran order: the first axis varies fastest.
    let at = 0;
    for (let d = shape.length - 1; d >= 0; d--) at = at * shape[d] + index[d];
    out[i] = (values as ArrayLike<unknown>)[at] as PyValue;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out.every((v) => typeof v === "number") ? Float64Array.from(out as number[]) : (out as PyValue[]);
}

