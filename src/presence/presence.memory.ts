import type { PresenceInfo, PresenceStore } from './presence'

/** Presence of one node, in memory: the default with no REDIS_URL. */
export function createMemoryPresence(): PresenceStore {
  const sockets = new Map<number, number>()
  const lastSeen = new Map<number, string>()
  return {
    onExpired() {},
    async connect(userId) {
      const n = (sockets.get(userId) ?? 0) + 1
      sockets.set(userId, n)
      return n === 1
    },
    async disconnect(userId) {
      const n = (sockets.get(userId) ?? 0) - 1
      if (n > 0) {
        sockets.set(userId, n)
        return false
      }
      sockets.delete(userId)
      lastSeen.set(userId, new Date().toISOString())
      return true
    },
    async getMany(userIds) {
      const out = new Map<number, PresenceInfo>()
      for (const id of userIds) out.set(id, { online: sockets.has(id), lastSeen: lastSeen.get(id) ?? null })
      return out
    },
    async close() {},
  }
}
