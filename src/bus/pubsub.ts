/**
 * The Redis side of the bus, whichever Redis it is: plain pub/sub on one
 * server (PUBLISH / SUBSCRIBE), or sharded pub/sub on a Redis Cluster
 * (SPUBLISH / SSUBSCRIBE: a channel lives on the shard its name hashes to, so
 * each room's events cross only its own shard instead of every node of the
 * cluster).
 */
export interface PubSub {
  publish(channel: string, payload: string): Promise<unknown>
  /** Resolves once subscribed to every channel. */
  subscribe(channels: string[]): Promise<unknown>
  unsubscribe(channels: string[]): Promise<unknown>
  onMessage(cb: (channel: string, payload: string) => void): void
  /**
   * Called when subscriptions are back after a connection was lost: messages
   * published meanwhile were missed (Redis pub/sub is at-most-once).
   */
  onRecovered(cb: () => void): void
  /** true while the subscribing side is connected */
  readonly up: boolean
  connect(): Promise<void>
  ping(): Promise<unknown>
  close(): void
}
