// What the benches' naive loops measure of one masked forward pass (bench/ablation.mjs, bench/cnn.mjs), kept apart
// from lesion's engine on purpose: per-class correct counts of the float32 arg max, and the mean cross-entropy in
// float64 from the float32 logits ([n × k]) when `withLoss`.
export function naiveScore(logits, labels, n, k, withLoss) {
  const correct = new Array(k).fill(0);
  let lossSum = 0;
  for (let s = 0; s < n; s++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[s * k + j] > logits[s * k + best]) best = j;
    if (best === labels[s]) correct[best]++;
    if (withLoss) {
      let sum = 0;
      for (let j = 0; j < k; j++) sum += Math.exp(logits[s * k + j] - logits[s * k + best]);
      lossSum += Math.log(sum) + logits[s * k + best] - logits[s * k + labels[s]];
    }
  }
  return { correct, loss: lossSum / n };
}
