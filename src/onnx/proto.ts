/**
 * The ONNX protobuf messages (onnx-proto's generated protobufjs code) and the few conversions lesion needs:
 * decode/encode a ModelProto, read an initializer as a typed array, make tensors, nodes and value infos.
 */
// onnx-proto's declarations name a global `Long` (@types/long 4, a dependency): kept in this file's declarations, so a
// project that limits `types`, or TypeScript 7, type-checks lesion's without skipLibCheck. By its package name, not
// "long": from lesion installed from a directory (its own node_modules), "long" found long 5 first, which declares no
// global.
/// <reference types="@types/long" preserve="true" />
import { createRequire } from "node:module";
import type OnnxProto from "onnx-proto";
import { fail } from "../errors.js";
import { checkpointFormat } from "./checkpointFormat.js";

// require, not import: Node's ESM loader would first scan this 330 KB CommonJS module (and protobufjs) for named
// exports with cjs-module-lexer, ~20-40 ms of every command's start-up for nothing (the same module object either way).
const onnxProto = createRequire(import.meta.url)("onnx-proto") as typeof OnnxProto;

export const onnx = onnxProto.onnx;
export type ModelProto = OnnxProto.onnx.ModelProto;
export type GraphProto = OnnxProto.onnx.IGraphProto;
export type NodeProto = OnnxProto.onnx.INodeProto;
export type TensorProto = OnnxProto.onnx.ITensorProto;
export type ValueInfoProto = OnnxProto.onnx.IValueInfoProto;
export type AttributeProto = OnnxProto.onnx.IAttributeProto;

export const DataType = onnx.TensorProto.DataType;

/** protobufjs decodes int64 fields as Long objects when `long` is installed, as numbers otherwise. */
export function toInt(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  const long = value as { toNumber?: () => number };
  if (typeof long.toNumber === "function") return long.toNumber();
  return Number(value);
}

/** The graph's default-domain (ai.onnx) opset, 13 where it imports none. */
export function defaultOpset(model: OnnxProto.onnx.IModelProto): number {
  return toInt((model.opsetImport ?? []).find((o) => !o.domain || o.domain === "ai.onnx")?.version ?? 13);
}

const CHECKPOINT_KINDS = { zip: "a torch.save zip archive", legacy: "a legacy torch.save file", safetensors: "a .safetensors file" };

/**
 * Decodes an ONNX ModelProto. Throws `bad-model` for bytes that are no ONNX model; a PyTorch checkpoint is named as
 * one (details `{name, checkpoint: CheckpointFormat}`), since it needs an architecture (importModel) before it is a
 * model.
 */
export function decodeModel(bytes: Uint8Array, name = "model"): ModelProto {
  const checkpoint = checkpointFormat(bytes);
  if (checkpoint === "pickle") {
    fail("bad-model", `${name} is a Python pickle, not an ONNX model; lesion reads models from ONNX and weights from torch.save or .safetensors checkpoints`, { name, checkpoint });
  }
  if (checkpoint === "torchscript") {
    fail("bad-model", `${name} is a TorchScript archive (torch.jit.save), not an ONNX model; lesion reads the network once exported with torch.onnx.export`, { name, checkpoint });
  }
  if (checkpoint) {
    fail("bad-model", `${name} is a PyTorch checkpoint (${CHECKPOINT_KINDS[checkpoint]}), not an ONNX model: it holds weights without an architecture; importModel builds a model from it and an architecture`, { name, checkpoint });
  }
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    // A name a checkpoint would have (`notes.pt`, a text file renamed) is neither: its checks above found no checkpoint.
    const what = /\.(pt|pth|pth\.tar|ckpt|bin|safetensors)$/i.test(name) ? "neither an ONNX model nor a PyTorch checkpoint" : "not an ONNX model";
    fail("bad-model", `${name} is ${what} (${(error as Error).message})`, { name });
  }
  const graph = model.graph;
  if (!graph || !graph.node || graph.node.length === 0 || !graph.output || graph.output.length === 0) {
    fail("bad-model", `${name} is not an ONNX model (no graph with nodes and outputs)`, { name });
  }
  for (const tensor of graph.initializer ?? []) checkTensorSize(tensor, name);
  return model;
}

/** Bytes per element of the types lesion reads (others are not checked here). */
const ELEMENT_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };

/**
 * A tensor whose dims claim more values than it holds is a damaged file: found here, in one line, before anything
 * allocates the claimed size (a bias claiming 10^12 values was an out-of-memory "internal error"). Tensors in external
 * data are checked when read.
 */
function checkTensorSize(tensor: TensorProto, name: string): void {
  const bytes = ELEMENT_BYTES[tensor.dataType ?? 0];
  if (!bytes || tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) return;
  const dims = (tensor.dims ?? []).map(toInt);
  const count = dims.reduce((a, d) => a * d, 1);
  const raw = tensor.rawData && tensor.rawData.length > 0 ? tensor.rawData.length / bytes : null;
  const type = tensor.dataType;
  const field = type === DataType.FLOAT ? tensor.floatData : type === DataType.DOUBLE ? tensor.doubleData : type === DataType.INT64 ? tensor.int64Data : type === 12 || type === 13 ? tensor.uint64Data : tensor.int32Data;
  const held = raw ?? field?.length ?? 0;
  if (dims.some((d) => !(d >= 0)) || count > held) {
    fail("bad-model", `${name} is damaged: tensor ${tensor.name} claims dims [${dims.join(", ")}] (${count} values) but holds ${held}`, { name, tensor: tensor.name ?? undefined });
  }
}

export function encodeModel(model: OnnxProto.onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model as Record<string, unknown>)).finish();
}

/** Deep copy through the wire format: surgery never mutates the model it was given. */
export function cloneModel(model: ModelProto): ModelProto {
  return onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
}

export type NumericArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

/** Reads a TensorProto's values, from raw_data or the typed repeated fields. */
export function tensorValues(tensor: TensorProto): NumericArray {
  const type = tensor.dataType ?? 0;
  const count = (tensor.dims ?? []).reduce<number>((a, d) => a * toInt(d), 1);
  const raw = tensor.rawData && tensor.rawData.length > 0 ? tensor.rawData : null;
  const copy = (bytesPerElement: number): ArrayBuffer => {
    const buffer = new ArrayBuffer(count * bytesPerElement);
    new Uint8Array(buffer).set(raw!.subarray(0, count * bytesPerElement));
    return buffer;
  };
  switch (type) {
    case DataType.FLOAT:
      return raw ? new Float32Array(copy(4)) : Float32Array.from(tensor.floatData ?? []);
    case DataType.DOUBLE:
      return raw ? new Float64Array(copy(8)) : Float64Array.from(tensor.doubleData ?? []);
    case DataType.INT64:
      return raw ? new BigInt64Array(copy(8)) : BigInt64Array.from((tensor.int64Data ?? []).map((v) => BigInt(toInt(v))));
    case DataType.INT32:
      return raw ? new Int32Array(copy(4)) : Int32Array.from(tensor.int32Data ?? []);
    case DataType.UINT8:
    case DataType.BOOL:
      return raw ? new Uint8Array(copy(1)) : Uint8Array.from(tensor.int32Data ?? []);
    case DataType.INT8:
      return raw ? new Int8Array(copy(1)) : Int8Array.from(tensor.int32Data ?? []);
    default:
      fail("unsupported-op", `tensor ${tensor.name} has ONNX data type ${type}, which lesion does not read`, {
        tensor: tensor.name ?? undefined,
      });
  }
}

export function tensorDims(tensor: TensorProto): number[] {
  return (tensor.dims ?? []).map(toInt);
}

export function makeTensor(name: string, dims: readonly number[], values: Float32Array | Float64Array | Int32Array | BigInt64Array): TensorProto {
  const dataType =
    values instanceof Float32Array ? DataType.FLOAT : values instanceof Float64Array ? DataType.DOUBLE : values instanceof Int32Array ? DataType.INT32 : DataType.INT64;
  return onnx.TensorProto.create({
    name,
    dims: [...dims],
    dataType,
    rawData: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)),
  });
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attributes: Record<string, number | number[] | string> = {},
): NodeProto {
  const attribute = Object.entries(attributes).map(([key, value]) => {
    if (typeof value === "string") {
      return onnx.AttributeProto.create({ name: key, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) });
    }
    if (Array.isArray(value)) {
      return onnx.AttributeProto.create({ name: key, type: onnx.AttributeProto.AttributeType.INTS, ints: value });
    }
    return Number.isInteger(value) && !key.match(/^(alpha|beta|epsilon|momentum|ratio)$/)
      ? onnx.AttributeProto.create({ name: key, type: onnx.AttributeProto.AttributeType.INT, i: value })
      : onnx.AttributeProto.create({ name: key, type: onnx.AttributeProto.AttributeType.FLOAT, f: value });
  });
  return onnx.NodeProto.create({ opType, input: inputs, output: outputs, name, attribute });
}

/** A value info with a shape whose entries are fixed sizes or symbolic names ("batch"). */
export function makeValueInfo(name: string, elemType: number, shape: ReadonlyArray<number | string> | null): ValueInfoProto {
  const tensorType = onnx.TypeProto.Tensor.create({ elemType });
  if (shape) {
    tensorType.shape = onnx.TensorShapeProto.create({
      dim: shape.map((d) =>
        typeof d === "number" ? onnx.TensorShapeProto.Dimension.create({ dimValue: d }) : onnx.TensorShapeProto.Dimension.create({ dimParam: d }),
      ),
    });
  }
  return onnx.ValueInfoProto.create({ name, type: onnx.TypeProto.create({ tensorType }) });
}

/** The shape of a value info: numbers for fixed dims, strings for symbolic ones, null for unknown rank. */
export function valueInfoShape(info: ValueInfoProto): Array<number | string> | null {
  const shape = info.type?.tensorType?.shape;
  if (!shape) return null;
  return (shape.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? toInt(d.dimValue) : "?"));
}

export function valueInfoElemType(info: ValueInfoProto): number {
  return info.type?.tensorType?.elemType ?? 0;
}

export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function attributeInts(node: NodeProto, name: string, fallback: number[]): number[] {
  const found = attribute(node, name);
  return found?.ints && found.ints.length > 0 ? found.ints.map(toInt) : fallback;
}

export function attributeInt(node: NodeProto, name: string, fallback: number): number {
  const found = attribute(node, name);
  return found && found.i !== undefined && found.i !== null ? toInt(found.i) : fallback;
}

/** A string attribute (bytes in the proto) as text. */
export function attributeString(node: NodeProto, name: string, fallback: string): string {
  const found = attribute(node, name);
  return found?.s && found.s.length > 0 ? new TextDecoder().decode(found.s) : fallback;
}

export function attributeFloat(node: NodeProto, name: string, fallback: number): number {
  const found = attribute(node, name);
  return found && typeof found.f === "number" ? found.f : fallback;
}

export function metadataValue(model: OnnxProto.onnx.IModelProto, key: string): string | undefined {
  return (model.metadataProps ?? []).find((p) => p.key === key)?.value ?? undefined;
}

export function setMetadataValue(model: OnnxProto.onnx.IModelProto, key: string, value: string): void {
  const props = (model.metadataProps ??= []);
  const existing = props.find((p) => p.key === key);
  if (existing) existing.value = value;
  else props.push(onnx.StringStringEntryProto.create({ key, value }));
}
