import { expect } from 'bun:test'
import type { ApiResponse } from './helpers'

/** ISO-8601 in UTC with milliseconds, as API.md "Conventions" fixes it. */
export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** An error answer: the status, and a body of exactly `{detail, code}` (both strings). */
export function expectError(r: ApiResponse, status: number, code?: string | string[]): void {
  expect({ status: r.status, body: r.body }).toMatchObject({ status })
  expect(typeof r.body).toBe('object')
  expect(r.body).not.toBeNull()
  expect(Object.keys(r.body as object).sort()).toEqual(['code', 'detail'])
  expect(typeof r.body.detail).toBe('string')
  expect(r.body.detail.length).toBeGreaterThan(0)
  expect(typeof r.body.code).toBe('string')
  if (typeof code === 'string') expect(r.body.code).toBe(code)
  else if (code) expect(code).toContain(r.body.code)
  expect(r.headers.get('content-type') ?? '').toContain('application/json')
}

/** A success answer with this status (shows the body when it is not). */
export function expectStatus(r: ApiResponse, status: number): void {
  expect({ status: r.status, body: r.status === status ? null : r.body }).toEqual({ status, body: null })
}

/** The User object of API.md "Objects" (extra fields allowed). */
export function expectUser(u: unknown, want: Record<string, unknown> = {}): void {
  const user = u as Record<string, unknown>
  expect(Number.isSafeInteger(user.id)).toBe(true)
  expect(typeof user.email).toBe('string')
  expect(typeof user.nickname).toBe('string')
  expect(user.avatar_url === null || typeof user.avatar_url === 'string').toBe(true)
  expect(user.bio === null || typeof user.bio === 'string').toBe(true)
  expect(typeof user.online).toBe('boolean')
  expect(user.last_seen === null || (typeof user.last_seen === 'string' && ISO.test(user.last_seen))).toBe(true)
  expect(user.created_at).toMatch(ISO)
  expect(user).toMatchObject(want)
}

/** The Room object of API.md "Objects" (extra fields allowed). */
export function expectRoom(r: unknown, want: Record<string, unknown> = {}): void {
  const room = r as Record<string, unknown>
  for (const k of ['id', 'member_count', 'max_members', 'last_seq', 'unread_count']) {
    expect({ [k]: Number.isSafeInteger(room[k]) }).toEqual({ [k]: true })
  }
  expect(['direct', 'group', 'channel']).toContain(room.type as string)
  expect(room.name === null || typeof room.name === 'string').toBe(true)
  expect(room.description === null || typeof room.description === 'string').toBe(true)
  expect(['private', 'public']).toContain(room.visibility as string)
  expect('space_id' in room && 'external_id' in room && 'created_by' in room && 'last_message' in room).toBe(true)
  expect(room.created_at).toMatch(ISO)
  expect(room.updated_at).toMatch(ISO)
  expect(room).toMatchObject(want)
}
