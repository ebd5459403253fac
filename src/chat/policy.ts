import { forbidden } from '../lib/errors'
import type { Role } from '../protocol/objects'

/**
 * Who may do what in a room or a space: one answer for every route and frame.
 * Roles are the room's (for a channel and the space itself, the space's). A
 * direct room has no owner powers.
 */
export type Action =
  /** rename, describe, change visibility */
  | 'room.update'
  | 'room.delete'
  /** delete a channel of a space */
  | 'channel.delete'
  /** create channels and invites in a space */
  | 'space.manage'
  | 'members.add'
  /** remove someone else (anyone may remove themselves) */
  | 'member.remove'
  /** change someone's role, or hand ownership over */
  | 'member.role'
  | 'member.ban'
  /** delete someone else's message */
  | 'message.moderate'
  /** the room's retention_days */
  | 'settings.retention'

export type Actor = { role: Role }
/** The member acted on, for actions on a member. */
export type Target = { role: Role | null }

const rank: Record<Role, number> = { member: 0, admin: 1, owner: 2 }

const reasons: Record<Action, string> = {
  'room.update': 'Only the owner or an admin may change the room.',
  'room.delete': 'Only the owner may delete the room.',
  'channel.delete': 'Only the owner or an admin of the space may delete a channel.',
  'space.manage': 'Only the owner or an admin of the space may do this.',
  'members.add': 'Only the owner or an admin may add members.',
  'member.remove': 'You cannot remove this member.',
  'member.role': 'Only the owner may change roles.',
  'member.ban': 'You cannot ban this member.',
  'message.moderate': 'Only the author or an owner/admin of the room may delete a message.',
  'settings.retention': 'Only the owner or an admin may set the retention.',
}

/**
 * Whether `actor` may do `action` in a room of `roomType`. Actions on a member
 * need `target`: an admin acts only on plain members, the owner on anyone but
 * themselves.
 */
export function can(action: Action, actor: Actor, roomType: 'direct' | 'group' | 'channel' | 'space', target?: Target): boolean {
  if (roomType === 'direct') return false
  const manager = rank[actor.role] >= rank.admin
  const outranks = (t: Target | undefined) => t !== undefined && (t.role === null || rank[actor.role] > rank[t.role])
  switch (action) {
    case 'room.update':
    case 'channel.delete':
    case 'space.manage':
    case 'members.add':
    case 'message.moderate':
    case 'settings.retention':
      return manager
    case 'room.delete':
      return actor.role === 'owner'
    case 'member.remove':
    case 'member.ban':
      return manager && outranks(target)
    case 'member.role':
      return actor.role === 'owner' && outranks(target)
  }
}

/** Throws 403 `forbidden` unless `can(...)`. */
export function authorize(action: Action, actor: Actor, roomType: 'direct' | 'group' | 'channel' | 'space', target?: Target): void {
  if (!can(action, actor, roomType, target)) {
    throw forbidden(roomType === 'direct' ? 'A direct room has no owner or admin powers.' : reasons[action])
  }
}
