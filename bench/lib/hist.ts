/**
 * Latency histogram: log buckets 1% wide from 1 µs to about 20 minutes, so
 * any percentile is within 1% of the true value; mergeable across processes
 * as plain arrays.
 */

const RATIO = 1.01
const LN_RATIO = Math.log(RATIO)
/** buckets: index i holds values in [RATIO^i, RATIO^(i+1)) microseconds; 0 also holds values below 1 µs */
export const BUCKETS = 2100

export type HistData = {
  /** sparse: [bucket index, count] pairs */
  counts: [number, number][]
  count: number
  /** milliseconds */
  min: number
  max: number
  sum: number
}

export class Histogram {
  readonly counts = new Float64Array(BUCKETS)
  count = 0
  min = Infinity
  max = 0
  sum = 0

  /** Records a value in milliseconds. */
  record(ms: number): void {
    const us = ms * 1000
    let i = us <= 1 ? 0 : Math.floor(Math.log(us) / LN_RATIO)
    if (i >= BUCKETS) i = BUCKETS - 1
    this.counts[i]! += 1
    this.count++
    this.sum += ms
    if (ms < this.min) this.min = ms
    if (ms > this.max) this.max = ms
  }

  merge(d: HistData): void {
    for (const [i, c] of d.counts) this.counts[i]! += c
    this.count += d.count
    this.sum += d.sum
    if (d.count) {
      this.min = Math.min(this.min, d.min)
      this.max = Math.max(this.max, d.max)
    }
  }

  toData(): HistData {
    const counts: [number, number][] = []
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]) counts.push([i, this.counts[i]!])
    return { counts, count: this.count, min: this.count ? this.min : 0, max: this.max, sum: this.sum }
  }

  static from(d: HistData): Histogram {
    const h = new Histogram()
    h.merge(d)
    return h
  }

  /** Value in ms at quantile q (0..1): the upper edge of its bucket, capped at the exact max. */
  quantile(q: number): number {
    if (!this.count) return 0
    const rank = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return Math.min(this.max, RATIO ** (i + 1) / 1000)
    }
    return this.max
  }

  mean(): number {
    return this.count ? this.sum / this.count : 0
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      p50: round3(this.quantile(0.5)),
      p90: round3(this.quantile(0.9)),
      p99: round3(this.quantile(0.99)),
      p999: round3(this.quantile(0.999)),
      max: round3(this.max),
      mean: round3(this.mean()),
    }
  }

  /** Cumulative distribution as [ms, fraction] points, one per non-empty bucket (for charts). */
  cdf(): [number, number][] {
    const pts: [number, number][] = []
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      const c = this.counts[i]!
      if (!c) continue
      seen += c
      pts.push([Math.min(this.max, RATIO ** (i + 1) / 1000), seen / this.count])
    }
    return pts
  }
}

/** Milliseconds. */
export type LatencySummary = { count: number; p50: number; p90: number; p99: number; p999: number; max: number; mean: number }

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}
