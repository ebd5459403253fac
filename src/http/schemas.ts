import { t } from 'elysia'
import '../protocol/fields' // registers format "text" before any route schema is compiled

/**
 * Path and query values are strings by nature: Elysia's `t.Integer` parses
 * them, then checks (1.5 or "x" → 422). Bodies never use these: they are
 * typed strictly with the protocol's schemas.
 */
export const Id = t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })
export const Seq = t.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
/** Page size of every list: 1..200. */
export const Limit = (dflt: number) => t.Optional(t.Integer({ minimum: 1, maximum: 200, default: dflt }))
/** A text query parameter: no NUL or lone surrogate, at most `max` UTF-16 units. */
export const QueryText = (max: number) => t.String({ format: 'text', maxLength: max })
/** `/rooms/:id…` paths. */
export const RoomParams = t.Object({ id: Id })
