import { sql, type SQL } from 'drizzle-orm'
import type { AttachmentRow } from './schema'

/** A message row joined with its sender, as every message query selects it. */
export type MessageRow = {
  id: number
  room_id: number
  seq: number
  sender_id: number | null
  nickname: string | null
  avatar_url: string | null
  type: 'text' | 'image' | 'file' | 'system'
  content: string
  reply_to_id: number | null
  attachment: AttachmentRow | null
  client_msg_id: string | null
  created_at: Date | string
  edited_at: Date | string | null
  deleted_at: Date | string | null
}

/** Columns of MessageRow, for `select ${messageColumns} from ${messageFrom}`. */
export const messageColumns: SQL = sql.raw(
  `m.id, m.room_id, m.seq, m.sender_id, u.nickname, u.avatar_url, m.type, m.content, m.reply_to_id,
   m.attachment, m.client_msg_id, m.created_at, m.edited_at, m.deleted_at`,
)
/** `messages m` joined with its sender `u`. */
export const messageFrom: SQL = sql.raw('messages m left join users u on u.id = m.sender_id')
