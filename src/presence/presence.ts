/** Whether a user has a socket open anywhere, and when they were last seen. */
export type PresenceInfo = { online: boolean; lastSeen: string | null }

/**
 * Who is online. One instance per node; the memory store knows this node, the
 * Redis store the whole cluster.
 */
export interface PresenceStore {
  /** A socket of the user opened here. True when the user just came online. */
  connect(userId: number): Promise<boolean>
  /** A socket of the user closed here. True when the user just went offline. */
  disconnect(userId: number): Promise<boolean>
  /** Presence of each id; users never seen are offline with lastSeen null. */
  getMany(userIds: number[]): Promise<Map<number, PresenceInfo>>
  /**
   * `cb` hears of users who went offline because their node died (their claim
   * expired), once across the cluster. The memory store never calls it: its
   * node's own disconnects tell.
   */
  onExpired(cb: (userId: number, lastSeen: string) => void): void
  close(): Promise<void>
}
