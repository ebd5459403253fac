import { t } from 'elysia'

/** A positive integer id in a path. */
export const Id = t.Numeric({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })
export const Seq = t.Numeric({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
/** Page size of every list: 1..200. */
export const Limit = (dflt: number) => t.Optional(t.Numeric({ minimum: 1, maximum: 200, default: dflt }))
export const IdList = t.Array(t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), { maxItems: 1000 })
