/** A PyTorch state_dict as lesion holds it: named tensors in the checkpoint's key order. */

export type TensorDtype = "float32" | "float64" | "float16" | "bfloat16" | "int64" | "int32" | "int16" | "int8" | "uint8" | "bool";

export interface StateTensor {
  /** The state_dict key, e.g. `fc1.weight`. */
  name: string;
  /** The dtype in the checkpoint; float16/bfloat16 values are widened to float32 in `data`, int64 to float64. */
  dtype: TensorDtype;
  shape: number[];
  /** Values in row-major order (contiguous whatever the strides in the file). */
  data: Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
}

/** Key order matters: an MLP is built from its linear layers in this order. */
export type StateDict = StateTensor[];
