/**
 * Timestamps come back as `Date` from the query builder and PGlite, and as
 * text ("2026-11-22 06:00:00.123+00") from raw postgres.js queries under
 * drizzle, which turns off that driver's date parser. One place makes ISO.
 */
export function iso(v: Date | string | null | undefined): string | null {
  if (v == null) return null
  if (v instanceof Date) return v.toISOString()
  const s = v.includes('T') ? v : v.replace(' ', 'T')
  const withZone = /[+-]\d\d$/.test(s) ? `${s}:00` : s
  return new Date(withZone).toISOString()
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
