import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { can, authorize, type Action } from './policy'
import type { Role } from '../protocol/objects'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

const roles: Role[] = ['owner', 'admin', 'member']

describe('policy: who may do what in a room', () => {
  test('room-wide actions: owner and admin, except delete (owner only)', () => {
    const expected: Record<string, Role[]> = {
      'room.update': ['owner', 'admin'],
      'members.add': ['owner', 'admin'],
      'message.moderate': ['owner', 'admin'],
      'settings.retention': ['owner', 'admin'],
      'room.delete': ['owner'],
    }
    for (const [action, allowed] of Object.entries(expected)) {
      for (const role of roles) {
        expect({ action, role, ok: can(action as Action, { role }, 'group') }).toEqual({ action, role, ok: allowed.includes(role) })
        expect(can(action as Action, { role }, 'channel')).toBe(allowed.includes(role))
      }
    }
  })

  test('acting on a member: an admin only on plain members, the owner on anyone else, nobody on the owner', () => {
    const table: [Action, Role, Role, boolean][] = [
      ['member.remove', 'owner', 'admin', true],
      ['member.remove', 'owner', 'member', true],
      ['member.remove', 'admin', 'member', true],
      ['member.remove', 'admin', 'admin', false],
      ['member.remove', 'admin', 'owner', false],
      ['member.remove', 'member', 'member', false],
      ['member.ban', 'owner', 'admin', true],
      ['member.ban', 'admin', 'member', true],
      ['member.ban', 'admin', 'admin', false],
      ['member.ban', 'admin', 'owner', false],
      ['member.ban', 'member', 'member', false],
      ['member.role', 'owner', 'admin', true],
      ['member.role', 'owner', 'member', true],
      ['member.role', 'owner', 'owner', false],
      ['member.role', 'admin', 'member', false],
      ['member.role', 'member', 'member', false],
    ]
    for (const [action, actor, target, ok] of table) {
      expect({ action, actor, target, ok: can(action, { role: actor }, 'group', { role: target }) }).toEqual({ action, actor, target, ok })
    }
    // a user who is not a member (a ban of an outsider) ranks below everyone
    expect(can('member.ban', { role: 'admin' }, 'group', { role: null })).toBe(true)
    expect(can('member.ban', { role: 'member' }, 'group', { role: null })).toBe(false)
    // without a target there is nobody to act on
    expect(can('member.remove', { role: 'owner' }, 'group')).toBe(false)
  })

  test('a direct room has no owner or admin powers', () => {
    for (const action of ['room.update', 'room.delete', 'members.add', 'message.moderate', 'settings.retention'] as Action[]) {
      for (const role of roles) expect(can(action, { role }, 'direct')).toBe(false)
    }
    expect(() => authorize('room.update', { role: 'owner' }, 'direct')).toThrow('direct room')
  })

  test('authorize throws 403 forbidden with a reason', () => {
    try {
      authorize('room.delete', { role: 'admin' }, 'group')
      throw new Error('did not throw')
    } catch (err) {
      expect(err).toMatchObject({ code: 'forbidden', status: 403, message: 'Only the owner may delete the room.' })
    }
  })
})
