import { sql } from 'drizzle-orm'
import {
  bigint, bigserial, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex,
} from 'drizzle-orm/pg-core'

const id = (name: string) => bigint(name, { mode: 'number' })
const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' })

export const users = pgTable(
  'users',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** trimmed and lower-cased */
    email: text('email').notNull(),
    /** argon2id; null for users created by the API gateway */
    passwordHash: text('password_hash'),
    nickname: text('nickname').notNull(),
    avatarUrl: text('avatar_url'),
    bio: text('bio'),
    lastSeenAt: ts('last_seen_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('users_email_key').on(t.email),
    index('users_email_prefix_idx').on(sql`${t.email} text_pattern_ops`),
    index('users_nickname_prefix_idx').on(sql`lower(${t.nickname}) text_pattern_ops`),
  ],
)

export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    /** one login's chain of rotated tokens; reuse of a revoked one revokes the family */
    familyId: text('family_id').notNull(),
    /** sha-256 hex of the token */
    tokenHash: text('token_hash').notNull(),
    expiresAt: ts('expires_at').notNull(),
    revokedAt: ts('revoked_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('refresh_tokens_hash_key').on(t.tokenHash), index('refresh_tokens_family_idx').on(t.familyId)],
)

export const rooms = pgTable(
  'rooms',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    type: text('type', { enum: ['direct', 'group', 'channel'] }).notNull(),
    name: text('name'),
    description: text('description'),
    visibility: text('visibility', { enum: ['private', 'public'] }).notNull().default('private'),
    /** the space of a channel; its audience is the space's members */
    spaceId: id('space_id').references(() => spaces.id, { onDelete: 'cascade' }),
    /** a client's key for the room ("post:42"), unique among rooms */
    externalId: text('external_id'),
    /** "small:large" user ids of a direct room, so a pair has one room */
    directKey: text('direct_key'),
    createdBy: id('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    /** seq of the newest committed message; advanced by the writer under the row lock */
    lastSeq: bigint('last_seq', { mode: 'number' }).notNull().default(0),
    lastActivityAt: ts('last_activity_at').notNull().defaultNow(),
    /** kept in step with room_members under the room row lock */
    memberCount: integer('member_count').notNull().default(0),
    maxMembers: integer('max_members').notNull(),
    retentionDays: integer('retention_days'),
  },
  (t) => [
    uniqueIndex('rooms_direct_key').on(t.directKey),
    uniqueIndex('rooms_external_id_key').on(t.externalId).where(sql`${t.externalId} is not null`),
    index('rooms_space_idx').on(t.spaceId),
  ],
)

/**
 * A Discord-style server: members, roles and bans are the space's, and its
 * channels are rooms of type `channel` (rooms.space_id) whose audience is the
 * space's members. Joining is one space_members row, whatever the number of
 * channels; a member's read mark and settings in a channel are a room_members
 * row created the first time they are needed.
 */
export const spaces = pgTable(
  'spaces',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    name: text('name').notNull(),
    description: text('description'),
    iconUrl: text('icon_url'),
    visibility: text('visibility', { enum: ['private', 'public'] }).notNull().default('private'),
    ownerId: id('owner_id').references(() => users.id, { onDelete: 'set null' }),
    /** the `general` channel, which cannot be deleted */
    generalRoomId: id('general_room_id'),
    /** kept in step with space_members under the space row lock */
    memberCount: integer('member_count').notNull().default(0),
    maxMembers: integer('max_members').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    // discover: public spaces by name prefix, most members first
    index('spaces_public_name_idx').on(sql`lower(${t.name}) text_pattern_ops`).where(sql`${t.visibility} = 'public'`),
  ],
)

export const spaceMembers = pgTable(
  'space_members',
  {
    spaceId: id('space_id').notNull().references(() => spaces.id, { onDelete: 'cascade' }),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    role: text('role', { enum: ['owner', 'admin', 'member'] }).notNull().default('member'),
    joinedAt: ts('joined_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.spaceId, t.userId] }), index('space_members_user_idx').on(t.userId)],
)

export const spaceInvites = pgTable(
  'space_invites',
  {
    /** random, unguessable */
    code: text('code').primaryKey(),
    spaceId: id('space_id').notNull().references(() => spaces.id, { onDelete: 'cascade' }),
    createdBy: id('created_by').references(() => users.id, { onDelete: 'set null' }),
    expiresAt: ts('expires_at').notNull(),
    /** null: unlimited */
    maxUses: integer('max_uses'),
    /** counted atomically with the join */
    uses: integer('uses').notNull().default(0),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('space_invites_space_idx').on(t.spaceId)],
)

/** Users kept out of a space (all its channels). */
export const spaceBans = pgTable(
  'space_bans',
  {
    spaceId: id('space_id').notNull().references(() => spaces.id, { onDelete: 'cascade' }),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    reason: text('reason'),
    bannedBy: id('banned_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.spaceId, t.userId] })],
)

/** Users kept out of a group room. */
export const roomBans = pgTable(
  'room_bans',
  {
    roomId: id('room_id').notNull().references(() => rooms.id, { onDelete: 'cascade' }),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    reason: text('reason'),
    bannedBy: id('banned_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.roomId, t.userId] })],
)

/**
 * Rooms deleted whose messages and files are still to go: a background job
 * deletes them in bounded batches, so deleting a big room or space answers at
 * once and never holds a long transaction.
 */
export const roomPurges = pgTable('room_purges', {
  roomId: id('room_id').primaryKey(),
  createdAt: ts('created_at').notNull().defaultNow(),
})

export const roomMembers = pgTable(
  'room_members',
  {
    roomId: id('room_id').notNull().references(() => rooms.id, { onDelete: 'cascade' }),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    role: text('role', { enum: ['owner', 'admin', 'member'] }).notNull().default('member'),
    joinedAt: ts('joined_at').notNull().defaultNow(),
    /** only moves forward; the writer moves it to each message the member sends, so unread = last_seq - last_read_seq */
    lastReadSeq: bigint('last_read_seq', { mode: 'number' }).notNull().default(0),
    notifications: boolean('notifications').notNull().default(true),
    readReceipts: boolean('read_receipts').notNull().default(true),
  },
  (t) => [primaryKey({ columns: [t.roomId, t.userId] }), index('room_members_user_idx').on(t.userId)],
)

export type AttachmentRow = { key: string; name: string; size: number; mime: string }

/**
 * No foreign keys on the hot insert path: the writer checks the room (under
 * its lock) and the sender's membership itself, and a room's deletion
 * deletes its messages.
 */
export const messages = pgTable(
  'messages',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    roomId: id('room_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    senderId: id('sender_id'),
    type: text('type', { enum: ['text', 'image', 'file', 'system'] }).notNull().default('text'),
    content: text('content').notNull(),
    replyToId: id('reply_to_id'),
    attachment: jsonb('attachment').$type<AttachmentRow>(),
    clientMsgId: text('client_msg_id'),
    createdAt: ts('created_at').notNull().defaultNow(),
    editedAt: ts('edited_at'),
    deletedAt: ts('deleted_at'),
  },
  (t) => [
    uniqueIndex('messages_room_seq_key').on(t.roomId, t.seq),
    uniqueIndex('messages_client_msg_key').on(t.roomId, t.senderId, t.clientMsgId).where(sql`${t.clientMsgId} is not null`),
  ],
)

/**
 * The search copy of message text, with the trigram index. Kept out of `messages` so that computing trigrams is not on the
 * commit path: the writer queues ids in `search_queue` in its transaction
 * and the indexer moves them here (see chat/search.ts).
 */
export const searchIndex = pgTable(
  'search_index',
  {
    messageId: id('message_id').primaryKey().references(() => messages.id, { onDelete: 'cascade' }),
    roomId: id('room_id').notNull(),
    content: text('content').notNull(),
  },
  (t) => [
    index('search_index_room_idx').on(t.roomId, t.messageId),
    // substring search for Korean and English; the pg_trgm extension is created by migration 0001
    index('search_index_content_trgm_idx').using('gin', sql`${t.content} gin_trgm_ops`),
  ],
)

/** Messages committed but not yet in search_index (a transactional outbox; no index, drained whole). */
export const searchQueue = pgTable('search_queue', {
  messageId: id('message_id').notNull(),
})

/**
 * What each writer batch committed, so that a retry after an ambiguous
 * failure (the connection died around COMMIT) answers from the first attempt
 * instead of inserting twice. Rows older than an hour are swept.
 */
export const writerBatches = pgTable(
  'writer_batches',
  {
    id: text('id').primaryKey(),
    outcome: jsonb('outcome').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('writer_batches_created_idx').on(t.createdAt)],
)

export const reactions = pgTable(
  'reactions',
  {
    messageId: id('message_id').notNull().references(() => messages.id, { onDelete: 'cascade' }),
    userId: id('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    emoji: text('emoji').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.messageId, t.userId, t.emoji] })],
)

/** Uploaded files; the bytes live in storage (local disk or S3) under `storageKey`. */
export const files = pgTable(
  'files',
  {
    /** random, unguessable: it is in the file URL */
    id: text('id').primaryKey(),
    /** no foreign key: a deleted room's files are purged with its messages (room_purges) */
    roomId: id('room_id').notNull(),
    uploaderId: id('uploader_id').references(() => users.id, { onDelete: 'set null' }),
    /** sanitized: no path, no control characters */
    name: text('name').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    /** detected from the bytes, not the name */
    mime: text('mime').notNull(),
    storageKey: text('storage_key').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('files_room_idx').on(t.roomId)],
)
