/**
 * Fixed numbers that are not configuration: advisory-lock ids shared by every
 * node on one database, and the bounds of per-node caches.
 */

/** Postgres advisory-lock ids. One database, one meaning per id, across every node and version. */
export const AdvisoryLock = {
  /** held (session lock) while the migrations in drizzle/ are applied: concurrent starts of several nodes wait */
  migrate: 727274,
  /** tried (transaction lock) by the search indexer: one node indexes at a time, the others skip the round */
  searchIndex: 727275,
} as const

/**
 * Per-node caches: past `max` entries the cache is emptied (or swept) before
 * the next insert, so memory stays bounded whatever the traffic; `ttlMs` is
 * how long an entry is trusted.
 */
export const CacheLimits = {
  /** gateway users already upserted with the same identity headers */
  gatewayUsers: { max: 100_000, ttlMs: 60_000 },
} as const
