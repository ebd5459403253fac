/**
 * Field schemas every payload is built from. Pure TypeBox: importable by
 * clients without the server.
 */
import { FormatRegistry, Type, type StringOptions } from '@sinclair/typebox'
import { hasBadChars } from '../lib/text'

/**
 * `format: "text"`: a string without NUL characters or lone UTF-16
 * surrogates, the two things Postgres refuses in text. Every text field a
 * client sends carries it, so such input is a 422 at the edge.
 */
if (!FormatRegistry.Has('text')) FormatRegistry.Set('text', (v) => !hasBadChars(v))

/**
 * A text field. `maxLength` counts UTF-16 units and only bounds the size;
 * the service trims and counts code points against the contract's limit.
 */
export const Text = (opts: StringOptions & { maxLength: number }) => Type.String({ format: 'text', ...opts })

/** Ids of users, rooms, spaces and messages: positive safe integers. */
export const Id = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })
/** A room seq or read mark: 0 (nothing yet) up to a safe integer. */
export const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(s: T) => Type.Union([s, Type.Null()])

export const Email = Text({ minLength: 3, maxLength: 320, description: 'trimmed and compared case-insensitively' })
export const Password = Text({ minLength: 8, maxLength: 1024, description: 'at least 8 characters' })
export const Nickname = Text({ minLength: 1, maxLength: 200, description: '1..50 characters after trimming' })
export const RoomName = Text({ minLength: 1, maxLength: 400, description: '1..100 characters after trimming' })
export const Description = Text({ maxLength: 4000, description: 'at most 1000 characters' })
export const ExternalId = Text({ minLength: 1, maxLength: 400, description: '1..200 characters: a client key such as "post:42"' })
export const ClientMsgId = Text({ minLength: 1, maxLength: 100, description: "the sender's idempotency key, 1..100 characters" })
/** A message body; its limit (MAX_MESSAGE_CHARS code points) is the server's to check. */
export const Content = Text({ maxLength: 1_000_000, description: 'message text: 1..MAX_MESSAGE_CHARS code points after trimming' })
export const HttpUrl = Text({ minLength: 1, maxLength: 2048, description: 'an absolute http(s) URL' })
export const Visibility = Type.Union([Type.Literal('private'), Type.Literal('public')])
export const IdList = Type.Array(Id, { maxItems: 1000 })
