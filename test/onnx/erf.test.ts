/** erf in float64 (the float64 interpreter's Erf and Gelu) against Python's math.erf (CPython's libm-grade erf). */
import { describe, expect, it } from "vitest";
import { erf } from "../../src/onnx/float64/erf.js";

// [x, math.erf(x)], printed by `python3 -c "import math; print(math.erf(x))"` (Python 3.11), x across the series
// (|x| < 2.5), the continued fraction (2.5 ≤ |x| < 6) and the saturated range.
const REFERENCE: Array<[number, number]> = [
  [0, 0.0],
  [1e-300, 1.1283791670955126e-300],
  [1e-12, 1.1283791670955126e-12],
  [-3e-8, -3.3851375012865365e-8],
  [0.1, 0.1124629160182849],
  [-0.25, -0.2763263901682369],
  [0.5, 0.5204998778130465],
  [0.84375, 0.7672256612323416],
  [-1, -0.8427007929497149],
  [1.25, 0.9229001282564582],
  [1.5, 0.9661051464753108],
  [-1.75, -0.9866716712191824],
  [2, 0.9953222650189527],
  [2.25, 0.9985372834133188],
  [2.4999, 0.9995928300996666],
  [-2.5, -0.999593047982555],
  [2.75, 0.9998993780778803],
  [3, 0.9999779095030014],
  [-3.5, -0.9999992569016276],
  [4, 0.9999999845827421],
  [4.5, 0.9999999998033839],
  [5, 0.9999999999984626],
  [5.5, 0.9999999999999927],
  [5.9999, 1.0],
  [6, 1.0],
  [-6.5, -1.0],
  [10, 1.0],
  [-27, -1.0],
];

describe("erf", () => {
  it.each(REFERENCE)("erf(%s) = math.erf to 1e-15 (relative)", (x, want) => {
    expect(Math.abs(erf(x) - want)).toBeLessThanOrEqual(1e-15 * Math.abs(want));
  });

  it("erf(NaN) is NaN; erf(±Infinity) is ±1; erf(−x) = −erf(x)", () => {
    expect(erf(NaN)).toBeNaN();
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    for (const x of [0.3, 1.7, 2.6, 4.2]) expect(erf(-x)).toBe(-erf(x));
  });
});
