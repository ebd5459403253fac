import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import type { SpacesService } from '../chat/spaces'
import { CreateBan, CreateChannel, CreateInvite, CreateSpace, JoinSpace, SetRole, UpdateSpace } from '../protocol/payloads'
import { authGuard } from './auth-guard'
import { Ban, BanList, Invite, Room, Space, SpaceList, SpaceMember, SpaceMemberList } from '../protocol/objects'
import { exampleBan, exampleInvite, examplePayloads as ex, exampleRoom, exampleSpace, exampleSpaceMember } from '../protocol/examples'
import { AUTHED, AUTHED_BODY, doc } from './route-docs'
import { Id, Limit, QueryText } from './schemas'

const space = { description: 'The space with its channels.', schema: Space, example: exampleSpace }
const spaceList = { description: 'The spaces.', schema: SpaceList, example: { spaces: [exampleSpace] } }

const SpaceParams = t.Object({ id: Id })
const MemberParams = t.Object({ id: Id, userId: Id })

/** /v1/spaces: Discord-style servers, their members, invites, bans and channels. */
export const spaceRoutes = (spaces: SpacesService, auth: Authenticator) =>
  new Elysia({ prefix: '/v1/spaces' })
    .use(authGuard(auth))
    .post('', async ({ userId, body, set }) => {
      set.status = 201
      return spaces.create(userId, body)
    }, {
      body: CreateSpace,
      detail: doc({
        tag: 'Spaces', summary: 'Create a space', requestExample: ex.CreateSpace,
        description: 'The caller is its owner; a `general` channel is created with it.',
        ok: { 201: { ...space, description: 'Created.' } }, errors: AUTHED_BODY,
      }),
    })
    .get('', async ({ userId }) => ({ spaces: await spaces.list(userId) }), {
      detail: doc({ tag: 'Spaces', summary: 'The caller\'s spaces', ok: { 200: spaceList }, errors: [401, 503] }),
    })
    .get('/discover', async ({ userId, query }) => ({ spaces: await spaces.discover(userId, query.query, query.limit ?? 20) }), {
      query: t.Object({ query: t.Optional(QueryText(400)), limit: Limit(20) }),
      detail: doc({
        tag: 'Spaces', summary: 'Discover public spaces', description: 'Public spaces by name prefix, most members first.',
        ok: { 200: spaceList }, errors: AUTHED,
      }),
    })
    .get('/:id', ({ userId, params }) => spaces.get(params.id, userId), {
      params: SpaceParams,
      detail: doc({ tag: 'Spaces', summary: 'A space', description: 'Members only, public or not.', ok: { 200: space }, errors: [...AUTHED, 403, 404] }),
    })
    .patch('/:id', ({ userId, params, body }) => spaces.update(params.id, userId, body), {
      params: SpaceParams,
      body: UpdateSpace,
      detail: doc({
        tag: 'Spaces', summary: 'Change a space', description: 'Owner or admin.', requestExample: ex.UpdateSpace,
        ok: { 200: space }, errors: [...AUTHED_BODY, 403, 404],
      }),
    })
    .delete('/:id', async ({ userId, params, set }) => {
      await spaces.remove(params.id, userId)
      set.status = 204
    }, {
      params: SpaceParams,
      detail: doc({
        tag: 'Spaces', summary: 'Delete a space', description: 'Owner only; its channels and their messages go too (in the background).',
        ok: { 204: { description: 'Deleted.' } }, errors: [...AUTHED, 403, 404],
      }),
    })
    .post('/:id/join', ({ userId, params, body }) => spaces.join(params.id, userId, body?.invite_code ?? null), {
      params: SpaceParams,
      body: t.Optional(JoinSpace),
      detail: doc({
        tag: 'Spaces', summary: 'Join a space', requestExample: ex.JoinSpace,
        description: 'A public space, or any with a valid invite code (a used-up or expired one → 403). Banned → 403; full → 422 `room_full`.',
        ok: { 200: space }, errors: [...AUTHED_BODY, 403, 404],
      }),
    })
    .post('/:id/leave', async ({ userId, params, set }) => {
      await spaces.leave(params.id, userId)
      set.status = 204
    }, {
      params: SpaceParams,
      detail: doc({
        tag: 'Spaces', summary: 'Leave a space', description: 'The owner cannot leave (403): hand ownership over or delete the space.',
        ok: { 204: { description: 'Left.' } }, errors: [...AUTHED, 403, 404],
      }),
    })
    .post('/:id/invites', async ({ userId, params, body, set }) => {
      set.status = 201
      return spaces.createInvite(params.id, userId, body ?? {})
    }, {
      params: SpaceParams,
      body: t.Optional(CreateInvite),
      detail: doc({
        tag: 'Spaces', summary: 'Create an invite', requestExample: ex.CreateInvite,
        description: 'Owner or admin. `expires_in` seconds (60..2592000, default 86400); `max_uses` 1..10000 or null; uses are counted atomically.',
        ok: { 201: { description: 'The invite.', schema: Invite, example: exampleInvite } }, errors: [...AUTHED_BODY, 403, 404],
      }),
    })
    .get('/:id/members', async ({ userId, params }) => ({ members: await spaces.members(params.id, userId) }), {
      params: SpaceParams,
      detail: doc({
        tag: 'Spaces', summary: 'Members of a space',
        ok: { 200: { description: 'The members.', schema: SpaceMemberList, example: { members: [exampleSpaceMember] } } }, errors: [...AUTHED, 403, 404],
      }),
    })
    .patch('/:id/members/:userId', ({ userId, params, body }) => spaces.setRole(params.id, userId, params.userId, body.role), {
      params: MemberParams,
      body: SetRole,
      detail: doc({
        tag: 'Moderation', summary: 'Change a space member\'s role', requestExample: ex.SetRole,
        description: 'Owner only; `owner` hands ownership over and the old owner becomes `admin`.',
        ok: { 200: { description: 'The member.', schema: SpaceMember, example: exampleSpaceMember } }, errors: [...AUTHED_BODY, 403, 404],
      }),
    })
    .delete('/:id/members/:userId', async ({ userId, params, set }) => {
      await spaces.removeMember(params.id, userId, params.userId)
      set.status = 204
    }, {
      params: MemberParams,
      detail: doc({
        tag: 'Moderation', summary: 'Remove a space member', description: 'Owner or admin (an admin only plain members); from every channel too.',
        ok: { 204: { description: 'Removed.' } }, errors: [...AUTHED, 403, 404],
      }),
    })
    .post('/:id/bans', async ({ userId, params, body, set }) => {
      set.status = 201
      return spaces.ban(params.id, userId, body.user_id, body.reason ?? null)
    }, {
      params: SpaceParams,
      body: CreateBan,
      detail: doc({
        tag: 'Moderation', summary: 'Ban a user from a space', requestExample: ex.CreateBan,
        description: 'Owner or admin: removes the user from the space and all its channels and keeps them out.',
        ok: { 201: { description: 'The ban.', schema: Ban, example: exampleBan } }, errors: [...AUTHED_BODY, 403, 404],
      }),
    })
    .get('/:id/bans', async ({ userId, params }) => ({ bans: await spaces.bans(params.id, userId) }), {
      params: SpaceParams,
      detail: doc({
        tag: 'Moderation', summary: 'Bans of a space', description: 'Owner or admin.',
        ok: { 200: { description: 'The bans.', schema: BanList, example: { bans: [exampleBan] } } }, errors: [...AUTHED, 403, 404],
      }),
    })
    .delete('/:id/bans/:userId', async ({ userId, params, set }) => {
      await spaces.unban(params.id, userId, params.userId)
      set.status = 204
    }, {
      params: MemberParams,
      detail: doc({ tag: 'Moderation', summary: 'Lift a space ban', description: 'Owner or admin.', ok: { 204: { description: 'Lifted.' } }, errors: [...AUTHED, 403, 404] }),
    })
    .post('/:id/channels', async ({ userId, params, body, set }) => {
      set.status = 201
      return spaces.createChannel(params.id, userId, body)
    }, {
      params: SpaceParams,
      body: CreateChannel,
      detail: doc({
        tag: 'Spaces', summary: 'Create a channel', description: 'Owner or admin. A channel is a room of type `channel` whose audience is the space.',
        requestExample: ex.CreateChannel,
        ok: { 201: { description: 'The channel.', schema: Room, example: { ...exampleRoom, type: 'channel', space_id: 3 } } }, errors: [...AUTHED_BODY, 403, 404],
      }),
    })
