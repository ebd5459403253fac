import { sql, type SQL } from 'drizzle-orm'
import type { AttachmentRow } from '../db/schema'
import { iso } from '../lib/time'

/** Message as API.md "Objects" defines it. */
export type Message = {
  id: number
  room_id: number
  seq: number
  sender: { id: number; nickname: string; avatar_url: string | null } | null
  type: 'text' | 'image' | 'file' | 'system'
  content: string
  reply_to_id: number | null
  attachment: { url: string; name: string; size: number; mime: string } | null
  reactions: { emoji: string; count: number; me: boolean }[]
  client_msg_id: string | null
  created_at: string
  edited_at: string | null
  deleted: boolean
}

/** A message row joined with its sender, as every query below selects it. */
export type MessageRow = {
  id: number
  room_id: number
  seq: number
  sender_id: number | null
  nickname: string | null
  avatar_url: string | null
  type: Message['type']
  content: string
  reply_to_id: number | null
  attachment: AttachmentRow | null
  client_msg_id: string | null
  created_at: Date | string
  edited_at: Date | string | null
  deleted_at: Date | string | null
}

/** Columns of MessageRow, for `select ${messageColumns} from messages m left join users u on u.id = m.sender_id`. */
export const messageColumns: SQL = sql.raw(
  `m.id, m.room_id, m.seq, m.sender_id, u.nickname, u.avatar_url, m.type, m.content, m.reply_to_id,
   m.attachment, m.client_msg_id, m.created_at, m.edited_at, m.deleted_at`,
)
export const messageFrom: SQL = sql.raw('messages m left join users u on u.id = m.sender_id')

/** Builds the attachment URL; set at wiring (files need a signer). */
export type AttachmentUrl = (a: AttachmentRow, messageId: number) => string

export function toMessage(r: MessageRow, attachmentUrl?: AttachmentUrl): Message {
  const deleted = r.deleted_at != null
  const att = typeof r.attachment === 'string' ? (JSON.parse(r.attachment) as AttachmentRow) : r.attachment
  return {
    id: r.id,
    room_id: r.room_id,
    seq: r.seq,
    sender: r.sender_id == null ? null : { id: r.sender_id, nickname: r.nickname ?? '', avatar_url: r.avatar_url },
    type: r.type,
    content: deleted ? '' : r.content,
    reply_to_id: r.reply_to_id,
    attachment:
      deleted || !att
        ? null
        : { url: attachmentUrl ? attachmentUrl(att, r.id) : '', name: att.name, size: att.size, mime: att.mime },
    reactions: [],
    client_msg_id: r.client_msg_id,
    created_at: iso(r.created_at)!,
    edited_at: iso(r.edited_at),
    deleted,
  }
}
