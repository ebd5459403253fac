import { eq, sql } from 'drizzle-orm'
import type { Database } from '../db/client'
import { messages, rooms, searchIndex } from '../db/schema'
import type { MessageWriter, WriteResult } from '../db/writer'
import { AppError, forbidden, notFound, validation } from '../lib/errors'
import type { SeqFrame } from '../bus/sequencer'
import type { Events } from './events'
import { messageColumns, messageFrom, toMessage, type AttachmentUrl, type Message, type MessageRow } from './message-view'
import type { MessageRateLimiter } from './rate-limit'
import type { FilesService } from './files'
import type { AttachmentRow } from '../db/schema'
import { withReactions } from './reactions'
import { authorize } from './policy'
import type { RoomsService } from './rooms'
import { codePoints, hasBadChars } from '../lib/text'
import type { EditMessage, MarkRead, SendMessage, UploadFields } from '../protocol/payloads'
import { frame, messageCreatedJson } from '../protocol/server-frames'


export type MessagesDeps = {
  database: Database
  writer: MessageWriter
  rooms: RoomsService
  events: Events
  limiter: MessageRateLimiter
  maxMessageChars: number
  attachmentUrl: AttachmentUrl
  files: FilesService
  /** per message.created published: seconds since the writer answered (for /metrics) */
  onPublished: (seconds: number) => void
}

/** Trims and checks a message body: 1..max code points, no NUL or broken surrogates. */
export function cleanContent(content: string, max: number): string {
  const v = content.trim()
  if (v.length === 0) throw validation('content: must not be empty.')
  if (hasBadChars(v)) throw validation('content: contains invalid characters (NUL or a lone surrogate).')
  // code points, not UTF-16 units: count only when the cheap bound fails
  if (v.length > max && codePoints(v) > max) throw new AppError('message_too_long', `content: at most ${max} characters.`)
  return v
}

export function cleanClientMsgId(id: string | null | undefined): string | null {
  if (id == null) return null
  if (id.length < 1 || id.length > 100) throw validation('client_msg_id: must be 1..100 characters.')
  if (hasBadChars(id)) throw validation('client_msg_id: contains invalid characters (NUL or a lone surrogate).')
  return id
}


export function createMessagesService(d: MessagesDeps) {
  const { database, writer, events } = d
  const { db } = database
  const view = (r: MessageRow) => toMessage(r, d.attachmentUrl)

  async function messageRow(roomId: number, messageId: number): Promise<MessageRow> {
    const [row] = await database.rows<MessageRow>(
      sql`select ${messageColumns} from ${messageFrom} where m.id = ${messageId} and m.room_id = ${roomId}`,
    )
    if (!row) throw notFound('Message')
    return row
  }

  return {
    /**
     * Sends a message; resolves once it is committed. `created` is false when
     * the same client_msg_id was sent before (the first message is returned).
     */
    async send(userId: number, roomId: number, input: SendMessage): Promise<{ message: Message; created: boolean; json: string }> {
      const content = cleanContent(input.content, d.maxMessageChars)
      const clientMsgId = cleanClientMsgId(input.client_msg_id)
      await d.limiter.take(userId)
      const r = await writer.submit({
        roomId, senderId: userId, type: 'text', content, replyToId: input.reply_to_id ?? null, clientMsgId,
      })
      const committed = performance.now()
      const message = view(r.row)
      if (r.status === 'duplicate') {
        if (r.row.content !== content || r.row.reply_to_id !== (input.reply_to_id ?? null)) {
          throw new AppError('conflict', 'client_msg_id was already used for a different message.')
        }
        return { message, created: false, json: JSON.stringify(message) }
      }
      const json = JSON.stringify(message)
      events.messageCreated(roomId, message.seq, json)
      d.onPublished((performance.now() - committed) / 1000)
      return { message, created: true, json }
    },

    /**
     * Sends an uploaded file as a message of type `image` (when the bytes are
     * an image) or `file`, with an optional caption.
     */
    async sendAttachment(
      userId: number,
      roomId: number,
      input: UploadFields & { file: Blob & { name?: string } },
    ): Promise<{ message: Message; created: boolean }> {
      const caption = input.content?.trim() ? cleanContent(input.content, d.maxMessageChars) : ''
      const clientMsgId = cleanClientMsgId(input.client_msg_id)
      await d.rooms.requireMember(roomId, userId)
      await d.limiter.take(userId)
      const { attachment, image } = await d.files.store(roomId, userId, input.file)
      let r: WriteResult
      let committed = 0
      try {
        r = await writer.submit({
          roomId, senderId: userId, type: image ? 'image' : 'file', content: caption, clientMsgId, attachment,
        })
        committed = performance.now()
      } catch (err) {
        // no message refers to these bytes: they go, whatever failed
        await d.files.discard(attachment.key).catch(() => {})
        throw err
      }
      const message = view(r.row)
      if (r.status === 'duplicate') {
        // the first upload stands; this copy of the bytes is not referenced
        await d.files.discard(attachment.key)
        return { message, created: false }
      }
      events.messageCreated(roomId, message.seq, JSON.stringify(message))
      d.onPublished((performance.now() - committed) / 1000)
      return { message, created: true }
    },

    /** History, ascending by seq. Without a cursor: the newest page. */
    async list(roomId: number, userId: number, q: { before_seq?: number; after_seq?: number; limit: number }) {
      await d.rooms.requireMember(roomId, userId)
      const conds = [sql`m.room_id = ${roomId}`]
      if (q.after_seq !== undefined) conds.push(sql`m.seq > ${q.after_seq}`)
      if (q.before_seq !== undefined) conds.push(sql`m.seq < ${q.before_seq}`)
      const where = sql.join(conds, sql` and `)
      // after_seq alone reads forward; otherwise the newest page below the bound
      const forward = q.after_seq !== undefined && q.before_seq === undefined
      const rows = await database.rows<MessageRow>(
        sql`select ${messageColumns} from ${messageFrom} where ${where}
            order by m.seq ${sql.raw(forward ? 'asc' : 'desc')} limit ${q.limit + 1}`,
      )
      const has_more = rows.length > q.limit
      const page = rows.slice(0, q.limit)
      if (!forward) page.reverse()
      return { messages: await withReactions(database, page.map(view), userId), has_more }
    },

    async edit(roomId: number, userId: number, messageId: number, input: EditMessage): Promise<Message> {
      await d.rooms.requireMember(roomId, userId)
      const text = cleanContent(input.content, d.maxMessageChars)
      const row = await messageRow(roomId, messageId)
      if (row.sender_id !== userId) throw forbidden('Only the author may edit a message.')
      if (row.deleted_at) throw notFound('Message')
      await db.transaction(async (tx) => {
        await tx.update(messages).set({ content: text, editedAt: new Date() }).where(eq(messages.id, messageId))
        await tx.update(searchIndex).set({ content: text }).where(eq(searchIndex.messageId, messageId))
      })
      const [forAll] = await withReactions(database, [view(await messageRow(roomId, messageId))], null)
      events.toRoom(roomId, frame('message.updated', { message: forAll! }))
      return (await withReactions(database, [{ ...forAll! }], userId))[0]!
    },

    async remove(roomId: number, userId: number, messageId: number): Promise<void> {
      const { room, member } = await d.rooms.requireMember(roomId, userId)
      const row = await messageRow(roomId, messageId)
      if (row.sender_id !== userId) authorize('message.moderate', member, room.type)
      if (row.deleted_at) return
      await db.transaction(async (tx) => {
        await tx.update(messages).set({ deletedAt: new Date(), content: '', attachment: null }).where(eq(messages.id, messageId))
        await tx.delete(searchIndex).where(eq(searchIndex.messageId, messageId))
      })
      // its file goes with it: the signed URLs handed out before stop working
      const attachment = typeof row.attachment === 'string' ? (JSON.parse(row.attachment) as AttachmentRow) : row.attachment
      if (attachment) await d.files.discard(attachment.key)
      events.toRoom(roomId, frame('message.deleted', { room_id: roomId, message_id: messageId, seq: row.seq }))
    },

    /** Moves the caller's read mark forward (never back, never past the last message). */
    async read(roomId: number, userId: number, { seq }: MarkRead): Promise<{ last_read_seq: number; unread_count: number }> {
      const { room, member } = await d.rooms.requireMember(roomId, userId)
      await d.rooms.ensureMarkRow(room, member)
      const [row] = await database.rows<{ last_read_seq: number; last_seq: number }>(
        sql`update room_members rm set last_read_seq = greatest(rm.last_read_seq, least(${seq}::int8, r.last_seq))
            from rooms r where r.id = rm.room_id and rm.room_id = ${roomId} and rm.user_id = ${userId}
            returning rm.last_read_seq, r.last_seq`,
      )
      if (!row) throw notFound('Member')
      if (row.last_read_seq > member.lastReadSeq && member.readReceipts) {
        events.toRoom(roomId, frame('read', { room_id: roomId, user_id: userId, seq: row.last_read_seq }))
      }
      // after the mark, neither deleted nor the reader's own (docs/api.md)
      const unread = row.last_seq <= row.last_read_seq ? [{ n: 0 }] : await database.rows<{ n: number }>(
        sql`select count(*)::int as n from messages
            where room_id = ${roomId} and seq > ${row.last_read_seq} and deleted_at is null and sender_id is distinct from ${userId}`,
      )
      return { last_read_seq: Number(row.last_read_seq), unread_count: Number(unread[0]?.n ?? 0) }
    },

    /** Committed message.created frames of a room with after < seq <= upto (sequencer gap fills and replays). */
    async frames(roomId: number, after: number, upto: number, limit = 1000): Promise<SeqFrame[]> {
      const rows = await database.rows<MessageRow>(
        sql`select ${messageColumns} from ${messageFrom}
            where m.room_id = ${roomId} and m.seq > ${after} and m.seq <= ${upto} order by m.seq limit ${limit}`,
      )
      return rows.map((r) => ({ seq: r.seq, frame: messageCreatedJson(JSON.stringify(view(r))) }))
    },

    async lastSeq(roomId: number): Promise<number> {
      const [r] = await db.select({ s: rooms.lastSeq }).from(rooms).where(eq(rooms.id, roomId))
      return r?.s ?? 0
    },

  }
}

export type MessagesService = ReturnType<typeof createMessagesService>
