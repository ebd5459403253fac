import type { Bus, BusHandler } from './bus'

/** One node, in process: publish goes straight to the handler. */
export function createLocalBus(): Bus {
  let handler: BusHandler = () => {}
  return {
    kind: 'local',
    relayStats: { received: 0, lagMsAvg: 0 },
    setHandler: (h) => {
      handler = h
    },
    onResync: () => {},
    publish: (topic, frame, meta) => {
      if (!meta?.remoteOnly) handler(topic, frame, meta)
    },
    subscribe: async () => {},
    unsubscribe: () => {},
    ping: async () => {},
    close: async () => {},
  }
}
