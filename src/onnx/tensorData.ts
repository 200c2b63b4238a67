/**
 * Any numeric TensorProto as exact float64 values, and back: what constant folding and the float16→float32
 * conversion compute on. Integer types up to 2^53 and every float type (float16, bfloat16, float, double) are exact
 * in float64; a tensor outside that (strings, complex, int64 beyond 2^53) reads as null and is left alone.
 */
import { DataType, onnx, toInt, type TensorProto } from "./proto.js";

/** A constant tensor: ONNX element type, dims, and every element as a float64 (row-major). */
export interface ConstTensor {
  type: number;
  dims: number[];
  values: Float64Array;
}

const BYTES: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.DOUBLE]: 8,
  [DataType.FLOAT16]: 2,
  [DataType.BFLOAT16]: 2,
  [DataType.INT8]: 1,
  [DataType.UINT8]: 1,
  [DataType.BOOL]: 1,
  [DataType.INT16]: 2,
  [DataType.UINT16]: 2,
  [DataType.INT32]: 4,
  [DataType.UINT32]: 4,
  [DataType.INT64]: 8,
  [DataType.UINT64]: 8,
};

/** Whether lesion can read and write tensors of this ONNX element type as ConstTensor. */
export function isNumericType(type: number): boolean {
  return BYTES[type] !== undefined;
}

export function isFloatType(type: number): boolean {
  return type === DataType.FLOAT || type === DataType.DOUBLE || type === DataType.FLOAT16 || type === DataType.BFLOAT16;
}

/** IEEE 754 half-precision bits → number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const scratch = new DataView(new ArrayBuffer(4));

/** number → half-precision bits, from its float32 value, rounding to nearest even (as a float→float16 Cast does). */
export function floatToHalf(value: number): number {
  scratch.setFloat32(0, value, true);
  const x = scratch.getUint32(0, true);
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  let e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

function bfloat16ToFloat(bits: number): number {
  scratch.setUint32(0, bits << 16, true);
  return scratch.getFloat32(0, true);
}

function floatToBfloat16(value: number): number {
  scratch.setFloat32(0, value, true);
  const x = scratch.getUint32(0, true);
  if (Number.isNaN(value)) return 0x7fc0;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** A value rounded to what a tensor of `type` can hold (float32 rounding, float16 rounding, integer truncation). */
export function roundTo(type: number, value: number): number {
  switch (type) {
    case DataType.FLOAT:
      return Math.fround(value);
    case DataType.DOUBLE:
      return value;
    case DataType.FLOAT16:
      return halfToFloat(floatToHalf(value));
    case DataType.BFLOAT16:
      return bfloat16ToFloat(floatToBfloat16(value));
    case DataType.BOOL:
      return value !== 0 ? 1 : 0;
    default:
      return Number.isFinite(value) ? Math.trunc(value) + 0 : 0;
  }
}

/**
 * Reads a tensor (raw_data or the typed fields) as a ConstTensor; null for types or values lesion cannot hold exactly.
 * With `saturate`, a 64-bit integer beyond ±2^53 reads as ±(2^53 − 1) instead: for a Slice's starts and ends, where
 * exporters write INT64_MAX for "to the end" and any value past the axis means the same.
 */
export function readConst(tensor: TensorProto, saturate = false): ConstTensor | null {
  const huge = (negative: boolean) => (negative ? -Number.MAX_SAFE_INTEGER : Number.MAX_SAFE_INTEGER);
  const type = tensor.dataType ?? 0;
  const size = BYTES[type];
  if (size === undefined || tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) return null;
  const dims = (tensor.dims ?? []).map(toInt);
  const count = dims.reduce((a, b) => a * b, 1);
  const values = new Float64Array(count);
  const raw = tensor.rawData && tensor.rawData.length > 0 ? tensor.rawData : null;
  if (raw) {
    if (raw.length < count * size) return null;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) {
      const at = i * size;
      let v: number;
      switch (type) {
        case DataType.FLOAT: v = view.getFloat32(at, true); break;
        case DataType.DOUBLE: v = view.getFloat64(at, true); break;
        case DataType.FLOAT16: v = halfToFloat(view.getUint16(at, true)); break;
        case DataType.BFLOAT16: v = bfloat16ToFloat(view.getUint16(at, true)); break;
        case DataType.INT8: v = view.getInt8(at); break;
        case DataType.UINT8: case DataType.BOOL: v = view.getUint8(at); break;
        case DataType.INT16: v = view.getInt16(at, true); break;
        case DataType.UINT16: v = view.getUint16(at, true); break;
        case DataType.INT32: v = view.getInt32(at, true); break;
        case DataType.UINT32: v = view.getUint32(at, true); break;
        case DataType.INT64: { const b = view.getBigInt64(at, true); v = Number(b); if (BigInt(v) !== b) { if (!saturate) return null; v = huge(b < 0n); } break; }
        default: { const b = view.getBigUint64(at, true); v = Number(b); if (BigInt(v) !== b) { if (!saturate) return null; v = huge(false); } }
      }
      values[i] = v;
    }
    return { type, dims, values };
  }
  let source: ArrayLike<unknown>;
  switch (type) {
    case DataType.FLOAT: source = tensor.floatData ?? []; break;
    case DataType.DOUBLE: source = tensor.doubleData ?? []; break;
    case DataType.INT64: source = tensor.int64Data ?? []; break;
    case DataType.UINT32: case DataType.UINT64: source = tensor.uint64Data ?? []; break;
    default: source = tensor.int32Data ?? [];
  }
  if (source.length < count) return null;
  for (let i = 0; i < count; i++) {
    const v = toInt(source[i]);
    values[i] = type === DataType.FLOAT16 ? halfToFloat(v) : type === DataType.BFLOAT16 ? bfloat16ToFloat(v) : type === DataType.FLOAT || type === DataType.DOUBLE ? Number(source[i]) : v;
  }
  if (type === DataType.INT64 || type === DataType.UINT64) {
    for (let i = 0; i < count; i++) {
      if (Number.isSafeInteger(values[i])) continue;
      if (!saturate || Number.isNaN(values[i])) return null;
      values[i] = huge(values[i] < 0);
    }
  }
  return { type, dims, values };
}

/** A TensorProto holding `value` in raw_data, its values stored in its own type (rounded to it). */
export function writeConst(name: string, value: ConstTensor): TensorProto {
  const size = BYTES[value.type];
  const raw = new Uint8Array(value.values.length * size);
  const view = new DataView(raw.buffer);
  value.values.forEach((v, i) => {
    const at = i * size;
    switch (value.type) {
      case DataType.FLOAT: view.setFloat32(at, v, true); break;
      case DataType.DOUBLE: view.setFloat64(at, v, true); break;
      case DataType.FLOAT16: view.setUint16(at, floatToHalf(v), true); break;
      case DataType.BFLOAT16: view.setUint16(at, floatToBfloat16(v), true); break;
      case DataType.INT8: view.setInt8(at, v); break;
      case DataType.UINT8: case DataType.BOOL: view.setUint8(at, v); break;
      case DataType.INT16: view.setInt16(at, v, true); break;
      case DataType.UINT16: view.setUint16(at, v, true); break;
      case DataType.INT32: view.setInt32(at, v, true); break;
      case DataType.UINT32: view.setUint32(at, v, true); break;
      case DataType.INT64: view.setBigInt64(at, BigInt(v), true); break;
      default: view.setBigUint64(at, BigInt(v), true);
    }
  });
  return onnx.TensorProto.create({ name, dims: [...value.dims], dataType: value.type, rawData: raw });
}
