import type { MessageRow } from '../db/message-row'
import type { AttachmentRow } from '../db/schema'
import { iso } from '../lib/time'

// the row and its columns live with the database (the writer builds rows too); re-exported for the services
export { messageColumns, messageFrom, type MessageRow } from '../db/message-row'

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

/** Builds the attachment URL; set at wiring (files need a signer). */
export type AttachmentUrl = (a: AttachmentRow, messageId: number) => string

export function toMessage(r: MessageRow, attachmentUrl: AttachmentUrl): Message {
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
        : { url: attachmentUrl(att, r.id), name: att.name, size: att.size, mime: att.mime },
    reactions: [],
    client_msg_id: r.client_msg_id,
    created_at: iso(r.created_at)!,
    edited_at: iso(r.edited_at),
    deleted,
  }
}
