/**
 * The domain services of a node, built on its infrastructure, and the
 * background jobs they own. `stop()` ends the jobs and waits for the runs in
 * progress (the writer is drained before, by the caller).
 */
import { createPasswordHasher } from './auth/passwords'
import { createEvents } from './chat/events'
import { createFilesService } from './chat/files'
import { toMessage, type AttachmentUrl, type Message, type MessageRow } from './chat/message-view'
import { createMessagesService } from './chat/messages'
import { createRoomPurger } from './chat/purge'
import { createRateLimiter } from './chat/rate-limit'
import { createReactionsService, withReactions } from './chat/reactions'
import { createRoomsService } from './chat/rooms'
import { createSearch } from './chat/search'
import { createSettingsService } from './chat/settings'
import { createSpacesService } from './chat/spaces'
import { createUsersService } from './chat/users'
import type { Config } from './config'
import type { Infrastructure } from './infrastructure'
import { every } from './lib/every'
import { createPacer } from './lib/pace'
import type { Logger } from './lib/logger'
import { createAuthLimits } from './limits/auth-limits'
import { PresenceAnnouncer } from './presence/announcer'

/** How often queued messages are moved into the search index, ms (searches read the queue too). */
export const SEARCH_INDEX_EVERY_MS = 250

export type ChatServices = ReturnType<typeof createChatServices>

export function createChatServices(infra: Infrastructure, config: Config, log: Logger) {
  const { database, writer, presence, limiters, tokens, storage, metrics } = infra
  const events = createEvents(infra.bus)
  const files = createFilesService({
    database, storage, secret: config.JWT_SECRET, urlTtl: config.FILE_URL_TTL, maxUploadBytes: config.MAX_UPLOAD_BYTES,
  })
  /** Every message leaves the server through this: attachment URLs signed. */
  const attachmentUrl: AttachmentUrl = (a) => files.url(a)
  const view = (r: MessageRow) => toMessage(r, attachmentUrl)

  const passwords = createPasswordHasher()
  const authLimits = createAuthLimits(limiters, { perClientPerMinute: config.RATE_AUTH, loginFailuresPer15Min: config.RATE_LOGIN_FAILURES })
  const users = createUsersService({
    database, tokens, presence, refreshTtl: config.REFRESH_TTL, passwords, authLimits, gatewayPlaceholders: config.AUTH_MODE === 'gateway',
    // the user topic reaches every node holding one of the user's sockets
    onLoginRevoked: (userId, sid) => events.revokeLogin(userId, sid),
  })

  // background work yields to the writer: bounded batches, each after the writer goes idle (or BACKGROUND_MAX_DEFER_MS)
  const pace = createPacer({
    busy: () => writer.busy, idle: () => writer.drain(), maxDeferMs: config.BACKGROUND_MAX_DEFER_MS, pauseMs: config.BACKGROUND_PAUSE_MS,
    sliceMs: config.BACKGROUND_SLICE_MS,
  })
  const purger = createRoomPurger({ database, files, log, pace })
  const purgeSoon = () => void purger.kick().catch((err) => log.warn('room purge failed', { error: err }))
  const rooms = createRoomsService({ database, users, events, maxRoomMembers: config.MAX_ROOM_MEMBERS, attachmentUrl, purgeSoon })
  const spaces = createSpacesService({ database, users, rooms, events, maxSpaceMembers: config.MAX_SPACE_MEMBERS, purgeSoon })
  const messages = createMessagesService({
    database, writer, rooms, events, limiter: createRateLimiter(config.RATE_MESSAGES, limiters), maxMessageChars: config.MAX_MESSAGE_CHARS,
    attachmentUrl, files,
    onPublished: metrics.histogram('chat_commit_to_publish_seconds', 'commit → publish of a message.created, seconds'),
  })
  const search = createSearch(database, view, { pace })
  const reactions = createReactionsService({ database, requireMember: rooms.requireMember, events, view })
  const settings = createSettingsService(database, rooms, files, log, pace)

  // this node's presence announcements: coalesced per user, large rooms only on request
  const announcer = new PresenceAnnouncer({
    publish: (topic, json) => infra.bus.publish(topic, json),
    coalesceMs: config.PRESENCE_COALESCE_MS,
    roomMaxMembers: config.PRESENCE_ROOM_MAX_MEMBERS,
  })

  // a user whose only node died went offline: exactly one node tells the user's rooms and spaces
  presence.onExpired((userId, lastSeen) => {
    void (async () => {
      // last_seen stored and the audience read in one statement, as for a socket's own close
      const audience = await rooms.wentOffline(userId, new Date(lastSeen))
      const u = await users.get(userId)
      announcer.announce(userId, { status: 'offline', nickname: u.nickname, lastSeen }, audience)
    })().catch((err) => log.warn('presence: offline announcement failed', { user_id: userId, error: err }))
  })

  const jobs = [
    // every node sweeps; a second delete of the same rows finds nothing
    every(config.RETENTION_SWEEP_MS, () => settings.sweepRetention(), log, 'retention sweep'),
    // rooms deleted by a node that stopped before their purge finished
    every(config.RETENTION_SWEEP_MS, () => purger.kick(), log, 'room purge'),
    // trigrams are computed here, off the commit path
    every(SEARCH_INDEX_EVERY_MS, () => search.indexPending(), log, 'search indexer'),
  ]

  return {
    events, files, passwords, users, rooms, spaces, messages, search, reactions, settings, announcer,
    /** Reactions of `viewer` merged into messages (routes that list messages). */
    withReactions: <T extends Message>(msgs: T[], viewer: number | null) => withReactions(database, msgs, viewer),
    /** Ends the background jobs and waits for their runs and any room purge in progress. */
    async stop(): Promise<void> {
      await Promise.all(jobs.map((j) => j.stop()))
      await purger.settle()
      announcer.close()
    },
  }
}
