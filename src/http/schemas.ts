import { t } from 'elysia'

/** A positive integer id in a path. */
export const Id = t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })
/** Query integers: t.Integer is coerced from the query string, then checked (1.5 → 422). */
export const Seq = t.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
/** Page size of every list: 1..200. */
export const Limit = (dflt: number) => t.Optional(t.Integer({ minimum: 1, maximum: 200, default: dflt }))
export const IdList = t.Array(t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), { maxItems: 1000 })
