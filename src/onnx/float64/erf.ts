/**
 * The error function in float64, for the float64 interpreter's Erf and Gelu (JS has no Math.erf). Within 8e-16
 * (relative) of Python's math.erf on 3,400 points of [−7, 7] (test/onnx/erf.test.ts).
 * - |x| < 2.5: erf(x) = 2/√π · e^(−x²) · Σ_{n≥0} 2ⁿ·x^(2n+1) / (1·3·…·(2n+1)), a series whose terms all have x's
 *   sign, so nothing cancels (the Taylor series alternates and loses digits as |x| grows).
 * - 2.5 ≤ |x| < 6: erf(x) = ±(1 − erfc(|x|)), erfc(a) = e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + …)))),
 *   the continued fraction evaluated from 30 levels down (it has converged to float64 there by 20).
 * - |x| ≥ 6: ±1 (erfc(6) < 2.2e-17, below float64's resolution at 1).
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a < 2.5) {
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  }
  if (a >= 6) return Math.sign(x);
  let fraction = a;
  for (let n = 30; n >= 1; n--) fraction = a + n / 2 / fraction;
  return Math.sign(x) * (1 - Math.exp(-a * a) / SQRT_PI / fraction);
}

/** GELU, PyTorch's nn.GELU(): x·Φ(x) = 0.5·x·(1 + erf(x/√2)); with `tanh`, its tanh form (approximate="tanh"). */
export function gelu(x: number, tanh = false): number {
  return tanh ? 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))) : 0.5 * x * (1 + erf(x / Math.SQRT2));
}

const SQRT_PI = Math.sqrt(Math.PI);
const TWO_OVER_SQRT_PI = 2 / SQRT_PI;
