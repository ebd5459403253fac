import { sql, type SQL } from 'drizzle-orm'

/**
 * SQL fragments shared by the services and the writer. Lists travel as one
 * JSON parameter: one placeholder for any length (no 65535-parameter limit)
 * and the same statement text for every length (one prepared plan).
 */

/** `(select value::int8 from …)`: the ids as a subquery, for `x in ${idList(ids)}`. */
export const idList = (ids: readonly number[]): SQL =>
  sql`(select value::int8 from json_array_elements_text(${JSON.stringify(ids)}::json))`

/**
 * `json_to_recordset(…) as x(columns)`: the rows as a table `x`, for `from`
 * or `in (select x.a, x.b from …)`. `columns` is fixed text of this code
 * (`room_id int8, seq int8`), never input.
 */
export const jsonRecords = (rows: readonly object[], columns: string | SQL): SQL =>
  sql`json_to_recordset(${JSON.stringify(rows)}::json) as x(${typeof columns === 'string' ? sql.raw(columns) : columns})`

/**
 * A json/jsonb column or `json_agg` result: postgres.js and PGlite parse it,
 * a driver that does not hands over its text.
 */
export const jsonColumn = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v)
