/**
 * How to prefill a set of waiting prompts: in one step padded to the longest, or in several
 * steps of similar lengths. A standard ONNX decoder takes a dense [rows, length] batch, so every
 * row is computed at the longest prompt's length; splitting saves that padding but pays a
 * step's fixed cost (weights read, kernel launches) again. Which is cheaper depends on the model
 * and the device, so it is measured: StepCostModel fits step time = a + k x (rows x length) to
 * the session's own prefill steps, and planPrefillGroups partitions the prompts, sorted by
 * length, to minimise the sum of (a/k + rows x longest) under the per-step token budget.
 * Until the fit has data, everything goes in as few steps as the budget allows.
 */

/** Groups of indices into `lengths`: a partition into runs of the sorted order, each within `budget`. */
export function planPrefillGroups(lengths: readonly number[], budget: number, fixedTokens: number): number[][] {
  const n = lengths.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  // best[j]: the cheapest plan for the first j prompts in sorted order; cut[j]: where its last group starts.
  const best = new Float64Array(n + 1).fill(Infinity);
  const cut = new Int32Array(n + 1);
  best[0] = 0;
  for (let j = 1; j <= n; j++) {
    const longest = lengths[order[j - 1]!]!;
    for (let i = j; i >= 1; i--) {
      const rows = j - i + 1;
      if (rows * longest > budget) break;
      const cost = best[i - 1]! + fixedTokens + rows * longest;
      // Ties go to the bigger group (fewer steps).
      if (cost <= best[j]!) {
        best[j] = cost;
        cut[j] = i - 1;
      }
    }
  }
  const groups: number[][] = [];
  for (let j = n; j > 0; j = cut[j]!) groups.push(order.slice(cut[j]!, j));
  return groups.reverse();
}

/**
 * An exponentially weighted least-squares fit of a prefill step's time against its padded
 * tokens, over the session's recent prefill steps (shared by the Generators of a session).
 */
export class StepCostModel {
  #w = 0;
  #x = 0;
  #y = 0;
  #xx = 0;
  #xy = 0;
  #samples = 0;
  readonly #decay: number;

  constructor(decay = 0.95) {
    this.#decay = decay;
  }

  observe(tokens: number, ms: number): void {
    if (!(tokens > 0) || !(ms >= 0) || !Number.isFinite(ms)) return;
    const d = this.#decay;
    this.#w = this.#w * d + 1;
    this.#x = this.#x * d + tokens;
    this.#y = this.#y * d + ms;
    this.#xx = this.#xx * d + tokens * tokens;
    this.#xy = this.#xy * d + tokens * ms;
    this.#samples++;
  }

  /** The fixed cost of a step in tokens (a / k), or Infinity while the fit is not usable. */
  fixedTokens(): number {
    if (this.#samples < 3) return Infinity;
    const w = this.#w;
    const varX = w * this.#xx - this.#x * this.#x;
    // Steps of (nearly) one size say nothing about the slope.
    if (!(varX > 1e-6 * w * this.#xx)) return Infinity;
    const k = (w * this.#xy - this.#x * this.#y) / varX;
    const a = (this.#y - k * this.#x) / w;
    if (!(k > 0) || !(a >= 0)) return Infinity;
    return a / k;
  }
}
