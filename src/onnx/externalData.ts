/**
 * ONNX external data (tensors stored in a side file such as `model.onnx.data`: PyTorch 2.x's default, and required
 * over 2 GB). The ONNX spec resolves a tensor's `location` relative to the directory of the model file, never the
 * working directory; lesion reads each tensor from there into the model, so the graph it runs (and the file
 * `lesion import` writes) holds every tensor inline.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { fail } from "../errors.js";
import { onnx, toInt, type GraphProto, type TensorProto } from "./proto.js";

/** protobuf's limit on one message: a model larger than this cannot be held inline. */
const MAX_INLINE_BYTES = 2 ** 31 - 1;

/** The external data files a graph's tensors name (their `location` entries), in first-use order. */
export function externalDataFiles(graph: GraphProto): string[] {
  const files = new Set<string>();
  for (const tensor of allTensors(graph)) if (isExternal(tensor)) files.add(entry(tensor, "location") ?? "");
  return [...files];
}

/**
 * Reads every externally stored tensor of `graph` from `dir` (the model file's directory) into raw_data, in place.
 * Returns the number of tensors read. Throws `missing-file` when a data file is absent and `bad-model` when a
 * tensor's location is absolute, its offset/length lie outside the file, or the tensors exceed 2 GB in all.
 */
export function inlineExternalData(graph: GraphProto, dir: string, modelName: string): number {
  const handles = new Map<string, { fd: number; size: number }>();
  let count = 0;
  let total = 0;
  try {
    for (const tensor of allTensors(graph)) {
      if (!isExternal(tensor)) continue;
      const location = entry(tensor, "location");
      if (!location) fail("bad-model", `${modelName}: tensor ${tensor.name} is stored externally but names no location`, { name: modelName, tensor: tensor.name ?? undefined });
      if (isAbsolute(location)) fail("bad-model", `${modelName}: tensor ${tensor.name} names an absolute external data path (${location}); ONNX locations are relative to the model file`, { name: modelName, location });
      const path = resolve(dir, location);
      let handle = handles.get(path);
      if (!handle) {
        if (!existsSync(path)) fail("missing-file", `${modelName} keeps tensor ${tensor.name} in ${location}, which is not next to the model (looked for ${path})`, { path });
        const fd = openSync(path, "r");
        handle = { fd, size: fstatSync(fd).size };
        handles.set(path, handle);
      }
      const offset = toInt(entry(tensor, "offset") ?? 0);
      const length = entry(tensor, "length") !== undefined ? toInt(entry(tensor, "length")) : handle.size - offset;
      if (offset < 0 || length < 0 || offset + length > handle.size) {
        fail("bad-model", `${modelName}: tensor ${tensor.name} lies at bytes ${offset}..${offset + length} of ${location}, which has ${handle.size}`, { name: modelName, location });
      }
      total += length;
      if (total > MAX_INLINE_BYTES) {
        fail("bad-model", `${modelName} keeps over 2 GB of tensors in external data; lesion holds a model as one ONNX protobuf, which is limited to 2 GB`, { name: modelName });
      }
      const bytes = new Uint8Array(length);
      let read = 0;
      while (read < length) {
        const n = readSync(handle.fd, bytes, read, length - read, offset + read);
        if (n <= 0) break;
        read += n;
      }
      tensor.rawData = bytes;
      tensor.externalData = [];
      tensor.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
      count++;
    }
  } finally {
    for (const { fd } of handles.values()) closeSync(fd);
  }
  return count;
}

function isExternal(tensor: TensorProto): boolean {
  return tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

function entry(tensor: TensorProto, key: string): string | undefined {
  return (tensor.externalData ?? []).find((e) => e.key === key)?.value ?? undefined;
}

function allTensors(graph: GraphProto): TensorProto[] {
  const tensors = [...(graph.initializer ?? [])];
  for (const node of graph.node ?? []) for (const a of node.attribute ?? []) if (a.t) tensors.push(a.t);
  return tensors;
}
