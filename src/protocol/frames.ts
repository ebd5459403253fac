import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'

import { Id as RoomId, Seq as SeqNo, Text } from './fields'
import { MarkRead, SendMessage } from './payloads'
import { jsonTooDeep, MAX_JSON_DEPTH, quoteValue } from '../lib/text'

// a frame's `type` names the frame; the message type (always text here) stays a REST field
const { type: _messageType, ...sendFields } = SendMessage.properties

/** Client → server frames (API.md "WebSocket protocol"), keyed on `type`. */
export const ClientFrames = {
  'message.send': Type.Object({ type: Type.Literal('message.send'), room_id: RoomId, ...sendFields }),
  typing: Type.Object({ type: Type.Literal('typing'), room_id: RoomId, is_typing: Type.Boolean() }),
  read: Type.Object({ type: Type.Literal('read'), room_id: RoomId, ...MarkRead.properties }),
  subscribe: Type.Object({ type: Type.Literal('subscribe'), room_id: RoomId, after_seq: Type.Optional(Type.Union([Type.Null(), SeqNo])) }),
  unsubscribe: Type.Object({ type: Type.Literal('unsubscribe'), room_id: RoomId }),
  /** presence of a room too large for presence to everyone (PRESENCE_ROOM_MAX_MEMBERS): opt in, opt out */
  'presence.subscribe': Type.Object({ type: Type.Literal('presence.subscribe'), room_id: RoomId }),
  'presence.unsubscribe': Type.Object({ type: Type.Literal('presence.unsubscribe'), room_id: RoomId }),
  ping: Type.Object({ type: Type.Literal('ping') }),
  /** renews the socket's credentials with a fresh access token of the same user */
  auth: Type.Object({ type: Type.Literal('auth'), token: Text({ minLength: 1, maxLength: 4096 }) }),
} as const

export type ClientFrameType = keyof typeof ClientFrames
export type ClientFrameOf<K extends ClientFrameType> = Static<(typeof ClientFrames)[K]>
export type ClientFrame = { [K in ClientFrameType]: ClientFrameOf<K> }[ClientFrameType]

/**
 * One handler per client frame type. A map of this type that misses a type
 * does not compile, so a new frame in ClientFrames needs its handler.
 */
export type ClientFrameHandlers = { [K in ClientFrameType]: (frame: Extract<ClientFrame, { type: K }>) => Promise<void> }

const checks = Object.fromEntries(
  Object.entries(ClientFrames).map(([k, s]) => [k, TypeCompiler.Compile(s as TSchema)]),
) as Record<ClientFrameType, TypeCheck<TSchema>>

export type ParsedFrame =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: 'bad_request' | 'validation'; detail: string; client_msg_id?: string }

/** Parses and validates one text frame, once. */
export function parseClientFrame(text: string): ParsedFrame {
  let value: unknown
  if (jsonTooDeep(text)) return { ok: false, code: 'bad_request', detail: `The frame nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels.` }
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, code: 'bad_request', detail: 'The frame is not valid JSON.' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'bad_request', detail: 'A frame must be a JSON object with a type.' }
  }
  const type = (value as { type?: unknown }).type
  if (typeof type !== 'string' || !Object.hasOwn(checks, type)) {
    return { ok: false, code: 'bad_request', detail: `Unknown frame type ${quoteValue(type ?? null)}.` }
  }
  const check = checks[type as ClientFrameType]
  if (!check.Check(value)) {
    const first = check.Errors(value).First()
    const field = first?.path.replace(/^\//, '').replace(/\//g, '.') || 'frame'
    const cmid = (value as { client_msg_id?: unknown }).client_msg_id
    return {
      ok: false,
      code: 'validation',
      detail: `${field}: ${first?.message ?? 'is invalid'}.`,
      ...(typeof cmid === 'string' ? { client_msg_id: cmid } : {}),
    }
  }
  return { ok: true, frame: value as ClientFrame }
}

/** Close codes moved to ./close-codes (with their reconnect policy); re-exported for existing imports. */
export { CloseCode } from './close-codes'
