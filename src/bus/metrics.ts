import type { Metrics } from '../lib/metrics'
import type { Bus } from './bus'

/** The relay's figures on /metrics: `onRelayLag` feeds the Redis bus's histogram; `watch` adds its totals. */
export function busMetrics(m: Metrics) {
  const onRelayLag = m.histogram('chat_relay_lag_seconds', 'publish → receive lag of events relayed from other nodes, seconds')
  return {
    onRelayLag,
    watch(bus: Bus): void {
      m.counter('chat_relay_received_total', 'events received from other nodes', () => bus.relayStats.received)
      m.gauge('chat_relay_lag_ms_avg', 'mean publish → receive lag of relayed events, ms', () => bus.relayStats.lagMsAvg)
    },
  }
}
