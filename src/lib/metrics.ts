/**
 * Prometheus metrics on prom-client. Each server has its own registry (tests
 * run several servers in one process), labelled `node`; the process and
 * runtime figures (`process_*`, `nodejs_*`) are collected once per process and
 * merged into every scrape. Components register their own figures on the
 * server's `Metrics`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Latency buckets, seconds: 0.5 ms to 5 s. */
export const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

let processRegistry: Registry | null = null

/** The process-wide default metrics, started on first use (their collectors live as long as the process). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

export type Metrics = ReturnType<typeof createMetrics>

/** A server's registry; every series carries `node="<nodeId>"`. */
export function createMetrics(nodeId: string) {
  const registry = new Registry()
  const started = Date.now()
  const registers = [registry]

  const metrics = {
    /** Prometheus text format, as prom-client names it. */
    contentType: registry.contentType,
    /** A value read at scrape time. */
    gauge(name: string, help: string, value: () => number): void {
      new Gauge({ name, help, registers, collect() { this.set(value()) } })
    },
    /** A total kept by its component (it only grows), read at scrape time. */
    counter(name: string, help: string, value: () => number): void {
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(value()) } })
    },
    /** A histogram without labels; returns its `observe`. */
    histogram(name: string, help: string, buckets: number[] = SECONDS_BUCKETS): (value: number) => void {
      const h = new Histogram({ name, help, buckets, registers })
      return (v) => h.observe(v)
    },
    /** This server's series and the process's, for /metrics. */
    async render(): Promise<string> {
      const merged = Registry.merge([registry, processMetrics()])
      merged.setDefaultLabels({ node: nodeId })
      return merged.metrics()
    },
  }
  metrics.gauge('chat_uptime_seconds', 'seconds since start', () => (Date.now() - started) / 1000)
  return metrics
}
