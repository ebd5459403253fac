import { useComputed, useSignal, useSignalEffect, type Signal } from '@preact/signals'
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import type { Message, Room, User } from '../../client/src'
import { lang, t } from './i18n'
import * as S from './store'

const EMOJI = ['👍', '❤️', '😂', '😮', '😢', '🎉']
const fmtTime = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' })
const fmtDate = new Intl.DateTimeFormat(lang, { year: 'numeric', month: 'long', day: 'numeric', weekday: 'short' })
const fmtShort = new Intl.DateTimeFormat(lang, { month: 'short', day: 'numeric' })

const dayKey = (iso: string) => new Date(iso).toDateString()
function dayLabel(iso: string): string {
  const d = new Date(iso)
  const today = new Date()
  const yesterday = new Date(Date.now() - 86_400_000)
  if (d.toDateString() === today.toDateString()) return t.today
  if (d.toDateString() === yesterday.toDateString()) return t.yesterday
  return fmtDate.format(d)
}
function listTime(iso: string): string {
  const d = new Date(iso)
  return d.toDateString() === new Date().toDateString() ? fmtTime.format(d) : fmtShort.format(d)
}

/** The room's title: its name, or for a direct room the other person's nickname. */
function roomTitle(r: Room): string {
  if (r.type !== 'direct') return r.type === 'channel' ? `# ${r.name ?? ''}` : (r.name ?? '')
  const other = S.members.value.get(r.id)?.find((m) => m.user.id !== S.me.value?.id)?.user.nickname
  return other ?? r.name ?? (r.last_message?.sender?.id !== S.me.value?.id ? r.last_message?.sender?.nickname : null) ?? `DM ${r.id}`
}

function preview(m: Message | null): string {
  if (!m) return ''
  if (m.deleted) return t.deleted
  const who = m.sender?.id === S.me.value?.id ? `${t.you}: ` : m.sender ? `${m.sender.nickname}: ` : ''
  return who + (m.type === 'image' || m.type === 'file' ? `📎 ${m.attachment?.name ?? ''}` : m.content)
}

export function Avatar({ user, size = 'md' }: { user: { id: number; nickname: string; avatar_url: string | null } | null; size?: 'sm' | 'md' }) {
  if (!user) return <span class={`avatar ${size} av0`} aria-hidden="true">?</span>
  if (user.avatar_url) return <img class={`avatar ${size}`} src={user.avatar_url} alt="" />
  return <span class={`avatar ${size} av${user.id % 8}`} aria-hidden="true">{[...user.nickname][0]?.toUpperCase() ?? '?'}</span>
}

const Dot = ({ on }: { on: boolean }) => <span class={on ? 'dot on' : 'dot'} title={on ? t.online : t.offline} aria-label={on ? t.online : t.offline} role="img" />

function DirectDot({ room }: { room: Room }) {
  const other = S.members.value.get(room.id)?.find((m) => m.user.id !== S.me.value?.id)?.user
  return other ? <><Dot on={S.present.value.has(other.id)} /> </> : null
}

// ---------------- sign-in

function SignIn() {
  const mode = useSignal<'in' | 'up'>('up')
  const error = useSignal<string | null>(null)
  const busy = useSignal(false)
  if (S.gateway.value) {
    return (
      <main class="auth">
        <h1>{t.appName}</h1>
        <p><a href="/gateway">{t.gatewaySignIn}</a></p>
      </main>
    )
  }
  const submit = async (e: SubmitEvent) => {
    e.preventDefault()
    const f = new FormData(e.currentTarget as HTMLFormElement)
    busy.value = true
    error.value = null
    try {
      await S.signIn(mode.value, String(f.get('email')), String(f.get('password')), String(f.get('nickname') ?? ''))
    } catch (err) {
      error.value = err instanceof Error ? err.message : t.errorGeneric
    } finally {
      busy.value = false
    }
  }
  return (
    <main class="auth">
      <h1>{t.appName}</h1>
      <form id="auth" onSubmit={submit} aria-label={mode.value === 'up' ? t.signUp : t.signIn}>
        <label>{t.email}<input name="email" type="email" autocomplete="email" required /></label>
        <label>{t.password}<input name="password" type="password" minLength={8} autocomplete={mode.value === 'up' ? 'new-password' : 'current-password'} required /></label>
        {mode.value === 'up' && <label>{t.nickname}<input name="nickname" autocomplete="nickname" maxLength={50} required /></label>}
        {error.value && <p class="error" role="alert">{error.value}</p>}
        <button class="primary" disabled={busy.value}>{mode.value === 'up' ? t.signUp : t.signIn}</button>
      </form>
      <button class="link" onClick={() => (mode.value = mode.value === 'up' ? 'in' : 'up')}>{mode.value === 'up' ? t.haveAccount : t.noAccount}</button>
    </main>
  )
}

// ---------------- dialogs

type DialogKind = null | 'direct' | 'group' | 'invite' | 'settings' | 'members' | 'space' | 'profile' | 'channel'

function Modal({ title, onClose, children }: { title: string; onClose: () => void; children: preact.ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    ref.current?.showModal()
  }, [])
  return (
    <dialog ref={ref} class="modal" aria-label={title} onClose={onClose} onCancel={onClose}>
      <header><h2>{title}</h2><button class="icon" aria-label={t.close} onClick={onClose}>✕</button></header>
      {children}
    </dialog>
  )
}

function UserPicker({ onPick, label }: { onPick: (u: User) => void; label: string }) {
  const q = useSignal('')
  const found = useSignal<User[]>([])
  useSignalEffect(() => {
    const query = q.value
    let stale = false
    S.searchUsers(query).then((u) => {
      if (!stale) found.value = u
    }, S.report)
    return () => {
      stale = true
    }
  })
  return (
    <div class="picker">
      <input type="search" aria-label={label} placeholder={label} value={q.value} onInput={(e) => (q.value = e.currentTarget.value)} autoFocus />
      <ul class="results">
        {found.value.map((u) => (
          <li key={u.id}>
            <button class="user-row" onClick={() => onPick(u)}>
              <Avatar user={u} size="sm" /> <span>{u.nickname}</span> <small>{u.email}</small>
            </button>
          </li>
        ))}
      </ul>
    </div>
  )
}

function DirectDialog({ onClose }: { onClose: () => void }) {
  const joinId = useSignal('')
  return (
    <Modal title={t.newChat} onClose={onClose}>
      <UserPicker label={t.searchUsers} onPick={(u) => S.startDirect(u.id).then(onClose, S.report)} />
      <form class="row" onSubmit={(e) => {
        e.preventDefault()
        const id = Number(/(\d+)\s*$/.exec(joinId.value)?.[1])
        if (id) S.joinRoom(id).then(onClose, S.report)
      }}>
        <input aria-label={t.joinRoom} placeholder={t.joinRoom} value={joinId.value} onInput={(e) => (joinId.value = e.currentTarget.value)} />
        <button>{t.join}</button>
      </form>
    </Modal>
  )
}

function GroupDialog({ onClose }: { onClose: () => void }) {
  const picked = useSignal<User[]>([])
  const name = useSignal('')
  const vis = useSignal<'private' | 'public'>('private')
  return (
    <Modal title={t.newGroup} onClose={onClose}>
      <form id="new-group" onSubmit={(e) => {
        e.preventDefault()
        S.createGroup(name.value.trim(), vis.value, picked.value.map((u) => u.id)).then(onClose, S.report)
      }}>
        <label>{t.groupName}<input required maxLength={100} value={name.value} onInput={(e) => (name.value = e.currentTarget.value)} /></label>
        <fieldset class="row">
          <legend class="sr-only">{t.public}</legend>
          <label class="inline"><input type="radio" name="vis" checked={vis.value === 'private'} onChange={() => (vis.value = 'private')} />{t.private}</label>
          <label class="inline"><input type="radio" name="vis" checked={vis.value === 'public'} onChange={() => (vis.value = 'public')} />{t.public}</label>
        </fieldset>
        <ul class="chips">{picked.value.map((u) => <li key={u.id}>{u.nickname}</li>)}</ul>
        <UserPicker label={t.searchUsers} onPick={(u) => {
          if (!picked.value.some((p) => p.id === u.id)) picked.value = [...picked.value, u]
        }} />
        <button class="primary">{t.create}</button>
      </form>
    </Modal>
  )
}

function InviteDialog({ room, onClose }: { room: Room; onClose: () => void }) {
  return (
    <Modal title={t.invite} onClose={onClose}>
      <p class="muted">{t.joinRoom}: <code>{location.origin}/#room={room.id}</code></p>
      <UserPicker label={t.searchUsers} onPick={(u) => S.invite(room.id, [u.id]).then(onClose, S.report)} />
    </Modal>
  )
}

function MembersDialog({ room, onClose }: { room: Room; onClose: () => void }) {
  const list = S.members.value.get(room.id) ?? []
  return (
    <Modal title={t.members} onClose={onClose}>
      <ul class="members">
        {list.map((m) => (
          <li key={m.user.id}>
            <Avatar user={m.user} size="sm" /> <Dot on={S.present.value.has(m.user.id)} /> <span>{m.user.nickname}</span> <small class="role">{t[m.role]}</small>
          </li>
        ))}
      </ul>
    </Modal>
  )
}

function SettingsDialog({ room, onClose }: { room: Room; onClose: () => void }) {
  const s = S.settings.value.get(room.id)
  const myRole = S.members.value.get(room.id)?.find((m) => m.user.id === S.me.value?.id)?.role
  const manager = myRole === 'owner' || myRole === 'admin'
  const name = useSignal(room.name ?? '')
  const retention = useSignal(s?.retention_days == null ? '' : String(s.retention_days))
  const perm = useSignal(typeof Notification === 'undefined' ? 'denied' : Notification.permission)
  return (
    <Modal title={t.settings} onClose={onClose}>
      {s && (
        <div class="settings">
          <label class="inline"><input type="checkbox" checked={s.notifications} onChange={(e) => S.saveSettings(room.id, { notifications: e.currentTarget.checked }).catch(S.report)} />{t.notifications}</label>
          <label class="inline"><input type="checkbox" checked={s.read_receipts} onChange={(e) => S.saveSettings(room.id, { read_receipts: e.currentTarget.checked }).catch(S.report)} />{t.readReceipts}</label>
          {perm.value === 'default' && (
            <button onClick={() => Notification.requestPermission().then((p) => (perm.value = p))}>{t.enableNotifications}</button>
          )}
          {manager && room.type !== 'direct' && (
            <form class="stack" onSubmit={(e) => {
              e.preventDefault()
              const days = retention.value.trim() === '' ? null : Number(retention.value)
              Promise.all([
                room.type === 'group' && name.value.trim() && name.value !== room.name ? S.renameRoom(room.id, name.value.trim()) : null,
                S.saveSettings(room.id, { retention_days: days }),
              ]).then(onClose, S.report)
            }}>
              {room.type === 'group' && <label>{t.roomName}<input value={name.value} maxLength={100} onInput={(e) => (name.value = e.currentTarget.value)} /></label>}
              <label>{t.retention}<input type="number" min={1} max={3650} value={retention.value} onInput={(e) => (retention.value = e.currentTarget.value)} /></label>
              <button class="primary">{t.save}</button>
            </form>
          )}
        </div>
      )}
      {room.type === 'group' && <button class="danger" onClick={() => S.leaveRoom(room.id).then(onClose, S.report)}>{t.leave}</button>}
    </Modal>
  )
}

function ProfileDialog({ onClose }: { onClose: () => void }) {
  const u = S.me.value!
  const nickname = useSignal(u.nickname)
  const avatar = useSignal(u.avatar_url ?? '')
  const bio = useSignal(u.bio ?? '')
  return (
    <Modal title={t.profile} onClose={onClose}>
      <form class="stack" onSubmit={(e) => {
        e.preventDefault()
        S.updateProfile({ nickname: nickname.value.trim(), avatar_url: avatar.value.trim() || null, bio: bio.value.trim() || null }).then(onClose, S.report)
      }}>
        <label>{t.nickname}<input required maxLength={50} value={nickname.value} onInput={(e) => (nickname.value = e.currentTarget.value)} disabled={S.gateway.value} /></label>
        <label>{t.avatarUrl}<input type="url" value={avatar.value} onInput={(e) => (avatar.value = e.currentTarget.value)} disabled={S.gateway.value} /></label>
        <label>{t.bio}<textarea maxLength={500} value={bio.value} onInput={(e) => (bio.value = e.currentTarget.value)} /></label>
        <button class="primary">{t.save}</button>
      </form>
    </Modal>
  )
}

function SpaceDialog({ onClose }: { onClose: () => void }) {
  const name = useSignal('')
  const link = useSignal('')
  return (
    <Modal title={t.spaces} onClose={onClose}>
      <form class="stack" onSubmit={(e) => {
        e.preventDefault()
        S.createSpace(name.value.trim()).then(onClose, S.report)
      }}>
        <label>{t.spaceName}<input required maxLength={100} value={name.value} onInput={(e) => (name.value = e.currentTarget.value)} /></label>
        <button class="primary">{t.newSpace}</button>
      </form>
      <form class="stack" onSubmit={(e) => {
        e.preventDefault()
        const m = /join=(\d+)\.([\w-]+)/.exec(link.value)
        if (m) S.joinSpace(Number(m[1]), m[2]!).then(onClose, S.report)
      }}>
        <label>{t.joinSpace}<input required value={link.value} onInput={(e) => (link.value = e.currentTarget.value)} /></label>
        <button>{t.join}</button>
      </form>
    </Modal>
  )
}

function SpaceInfoDialog({ spaceId, onClose }: { spaceId: number; onClose: () => void }) {
  const link = useSignal('')
  const channel = useSignal('')
  useEffect(() => {
    S.loadSpaceMembers(spaceId).catch(S.report)
  }, [spaceId])
  const list = S.spaceMembers.value.get(spaceId) ?? []
  const myRole = list.find((m) => m.user.id === S.me.value?.id)?.role
  const manager = myRole === 'owner' || myRole === 'admin'
  return (
    <Modal title={S.spaces.value.find((s) => s.id === spaceId)?.name ?? t.spaces} onClose={onClose}>
      {manager && (
        <div class="stack">
          <div class="row">
            <button onClick={() => S.inviteLink(spaceId).then((l) => (link.value = l), S.report)}>{t.inviteLink}</button>
            {link.value && <input readOnly aria-label={t.inviteLink} value={link.value} onFocus={(e) => e.currentTarget.select()} />}
          </div>
          <form class="row" onSubmit={(e) => {
            e.preventDefault()
            S.createChannel(spaceId, channel.value.trim()).then(onClose, S.report)
          }}>
            <input required aria-label={t.channelName} placeholder={t.channelName} maxLength={100} value={channel.value} onInput={(e) => (channel.value = e.currentTarget.value)} />
            <button>{t.newChannel}</button>
          </form>
        </div>
      )}
      <h3>{t.members}</h3>
      <ul class="members">
        {list.map((m) => (
          <li key={m.user.id}>
            <Avatar user={m.user} size="sm" /> <Dot on={S.present.value.has(m.user.id) || m.user.online} /> <span>{m.user.nickname}</span>
            {myRole === 'owner' && m.role !== 'owner' ? (
              <select aria-label={`${t.role}: ${m.user.nickname}`} value={m.role} onChange={(e) => S.setSpaceRole(spaceId, m.user.id, e.currentTarget.value as 'admin' | 'member').catch(S.report)}>
                <option value="member">{t.member}</option>
                <option value="admin">{t.admin}</option>
              </select>
            ) : (
              <small class="role">{t[m.role]}</small>
            )}
          </li>
        ))}
      </ul>
    </Modal>
  )
}

// ---------------- rail and room list

function Rail({ open }: { open: (d: DialogKind) => void }) {
  const spaceInfo = useSignal<number | null>(null)
  return (
    <nav class="rail" aria-label={t.spaces}>
      <button class={S.currentSpaceId.value === null ? 'rail-btn active' : 'rail-btn'} aria-label={t.home} title={t.home} onClick={() => (S.currentSpaceId.value = null)}>💬</button>
      {S.spaces.value.map((s) => (
        <button key={s.id} class={S.currentSpaceId.value === s.id ? 'rail-btn active' : 'rail-btn'} aria-label={s.name} title={s.name}
          onClick={() => (S.currentSpaceId.value = s.id)} onDblClick={() => (spaceInfo.value = s.id)}>
          {[...s.name][0]?.toUpperCase()}
        </button>
      ))}
      <button class="rail-btn add" aria-label={t.newSpace} title={t.newSpace} onClick={() => open('space')}>＋</button>
      {spaceInfo.value !== null && <SpaceInfoDialog spaceId={spaceInfo.value} onClose={() => (spaceInfo.value = null)} />}
    </nav>
  )
}

function RoomList({ open }: { open: (d: DialogKind) => void }) {
  const spaceId = S.currentSpaceId.value
  const list = S.rooms.value.filter((r) => r.space_id === spaceId)
  const space = S.spaces.value.find((s) => s.id === spaceId)
  const info = useSignal(false)
  return (
    <aside class="sidebar" aria-label={t.rooms}>
      <header class="side-head">
        <h2>{space ? space.name : t.rooms}</h2>
        {space ? (
          <button class="icon" aria-label={t.settings} title={t.settings} onClick={() => (info.value = true)}>⚙</button>
        ) : (
          <>
            <button class="icon" id="new-chat" aria-label={t.newChat} title={t.newChat} onClick={() => open('direct')}>✎</button>
            <button class="icon" id="new-group" aria-label={t.newGroup} title={t.newGroup} onClick={() => open('group')}>👥</button>
          </>
        )}
      </header>
      {list.length === 0 && <p class="muted pad">{t.noRooms}</p>}
      <ul class="rooms" id="rooms">
        {list.map((r) => (
          <li key={r.id}>
            <button class={r.id === S.currentRoomId.value ? 'room active' : 'room'} aria-current={r.id === S.currentRoomId.value ? 'true' : undefined}
              onClick={() => S.openRoom(r.id).catch(S.report)} data-room={r.id}>
              <span class="room-name">{r.type === 'direct' && <DirectDot room={r} />}{roomTitle(r)}</span>
              {r.last_message && <time class="room-time">{listTime(r.last_message.created_at)}</time>}
              <span class="room-preview">{preview(r.last_message)}</span>
              {r.unread_count > 0 && <span class="badge" aria-label={`${r.unread_count} unread`}>{r.unread_count}</span>}
            </button>
          </li>
        ))}
      </ul>
      <footer class="me">
        {S.me.value && (
          <button class="user-row" onClick={() => open('profile')} title={t.profile}>
            <Avatar user={S.me.value} size="sm" /> <span>{S.me.value.nickname}</span>
          </button>
        )}
        {!S.online.value && <small class="muted" role="status">{t.connecting}</small>}
        {S.gateway.value ? <a href="/gateway">{t.gatewayTitle}</a> : <button id="logout" onClick={() => S.logout().catch(S.report)}>{t.logout}</button>}
      </footer>
      {info.value && spaceId !== null && <SpaceInfoDialog spaceId={spaceId} onClose={() => (info.value = false)} />}
    </aside>
  )
}

// ---------------- messages

function Highlight({ html }: { html: string }) {
  // the server's highlight: HTML-escaped content with <mark>…</mark> around matches; rendered as text, never as HTML
  const parts = html.split(/<\/?mark>/)
  const unescape = (s: string) => s.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" })[e] ?? '')
  return <>{parts.map((p, i) => (i % 2 ? <mark key={i}>{unescape(p)}</mark> : unescape(p)))}</>
}

function SearchPanel({ room, onClose }: { room: Room; onClose: () => void }) {
  const q = useSignal('')
  const hits = useSignal<S.Hit[] | null>(null)
  return (
    <section class="search-panel" aria-label={t.searchMessages}>
      <form class="row" onSubmit={(e) => {
        e.preventDefault()
        if (q.value.trim()) S.searchRoom(room.id, q.value.trim()).then((h) => (hits.value = h), S.report)
      }}>
        <input type="search" id="search-input" aria-label={t.searchMessages} placeholder={t.searchMessages} value={q.value} onInput={(e) => (q.value = e.currentTarget.value)} autoFocus />
        <button>{t.search}</button>
        <button type="button" class="icon" aria-label={t.close} onClick={onClose}>✕</button>
      </form>
      {hits.value && hits.value.length === 0 && <p class="muted">{t.noResults}</p>}
      <ul class="hits">
        {hits.value?.map((h) => (
          <li key={h.id}>
            <button class="hit" onClick={() => S.jump(room.id, h.seq).catch(S.report)} aria-label={`${t.jumpTo}: ${h.content}`}>
              <small>{h.sender?.nickname} · {listTime(h.created_at)}</small>
              <span><Highlight html={h.highlight} /></span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  )
}

function Attachment({ m }: { m: Message }) {
  const a = m.attachment
  if (!a) return null
  if (m.type === 'image') {
    return <a href={a.url} target="_blank" rel="noopener"><img class="preview" src={a.url} alt={a.name} loading="lazy" /></a>
  }
  return <a class="file" href={a.url} download={a.name}>📎 {a.name} <small>({Math.ceil(a.size / 1024)} KB)</small></a>
}

function MessageItem({ m, grouped, room, onReply, onEdit }: { m: Message; grouped: boolean; room: Room; onReply: (m: Message) => void; onEdit: (m: Message) => void }) {
  const mine = m.sender?.id === S.me.value?.id
  const list = S.messages.value.get(room.id) ?? []
  const quoted = m.reply_to_id ? list.find((x) => x.id === m.reply_to_id) : undefined
  // "read by N" under the newest message of mine only (who, on hover)
  const lastMine = mine && !list.some((x) => x.seq > m.seq && x.sender?.id === m.sender?.id && !x.deleted)
  const readers = lastMine ? (S.members.value.get(room.id) ?? []).filter((x) => x.user.id !== S.me.value?.id && x.last_read_seq >= m.seq) : []
  const myRole = S.members.value.get(room.id)?.find((x) => x.user.id === S.me.value?.id)?.role
  const canDelete = mine || myRole === 'owner' || myRole === 'admin'
  return (
    <li class={`msg${grouped ? ' grouped' : ''}${mine ? ' mine' : ''}`} id={`m-${m.seq}`} data-seq={m.seq} data-key={`m${m.id}`}>
      {!grouped ? <Avatar user={m.sender} /> : <span class="avatar-gap" />}
      <div class="body">
        {!grouped && (
          <div class="meta">
            <strong>{m.sender?.nickname ?? ''}</strong> {m.sender && <Dot on={S.present.value.has(m.sender.id)} />} <time dateTime={m.created_at}>{fmtTime.format(new Date(m.created_at))}</time>
          </div>
        )}
        {m.reply_to_id && (
          <button class="quote" onClick={() => quoted && S.jump(room.id, quoted.seq)} aria-label={t.jumpTo}>
            ↪ {quoted ? `${quoted.sender?.nickname ?? ''}: ${quoted.deleted ? t.deleted : quoted.content || quoted.attachment?.name}` : '…'}
          </button>
        )}
        {m.deleted ? (
          <p class="text deleted">{t.deleted}</p>
        ) : (
          <>
            {m.content && <p class="text">{m.content}{m.edited_at && <small class="edited"> ({t.edited})</small>}</p>}
            <Attachment m={m} />
          </>
        )}
        {m.reactions.length > 0 && (
          <div class="reactions">
            {m.reactions.map((r) => (
              <button key={r.emoji} class={r.me ? 'reaction me' : 'reaction'} aria-pressed={r.me} aria-label={`${r.emoji} ${r.count}`} onClick={() => S.toggleReaction(m, r.emoji).catch(S.report)}>
                {r.emoji} {r.count}
              </button>
            ))}
          </div>
        )}
        {readers.length > 0 && (
          <small class="receipt" title={readers.map((x) => x.user.nickname).join(', ')}>{t.readBy} {readers.length}</small>
        )}
      </div>
      {!m.deleted && m.type !== 'system' && (
        <div class="actions">
          <details class="react-menu">
            <summary aria-label={t.addReaction} title={t.addReaction}>☺</summary>
            <div class="emoji-list">
              {EMOJI.map((e) => <button key={e} aria-label={`${t.react} ${e}`} onClick={(ev) => {
                (ev.currentTarget.closest('details') as HTMLDetailsElement).open = false
                S.toggleReaction(m, e).catch(S.report)
              }}>{e}</button>)}
            </div>
          </details>
          <button class="icon" aria-label={t.reply} title={t.reply} onClick={() => onReply(m)}>↩</button>
          {mine && m.type === 'text' && <button class="icon" aria-label={t.edit} title={t.edit} onClick={() => onEdit(m)}>✎</button>}
          {canDelete && <button class="icon" aria-label={t.delete} title={t.delete} onClick={() => S.deleteMessage(m).catch(S.report)}>🗑</button>}
        </div>
      )}
    </li>
  )
}

/** A row of the message list: a date separator or a message. */
type Row = { key: string; m: Message; day: boolean; grouped: boolean }
/** Pixels rendered above and below the view, beyond what is seen. */
const OVERSCAN = 800
/** A row's height before it has been rendered once (measured heights replace it). */
const estimate = (r: Row) => (r.day ? 44 : r.m.type === 'image' && !r.m.deleted ? 240 : r.grouped ? 32 : 60)

/** The largest i with offsets[i] <= y (0 when there is none); offsets ascends. */
function rowAt(offsets: number[], y: number): number {
  let lo = 0
  let hi = offsets.length - 2
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (offsets[mid]! <= y) lo = mid
    else hi = mid - 1
  }
  return Math.max(0, lo)
}

/**
 * The message list, windowed: only the rows in and near the view are in the
 * DOM; a spacer above and one below stand for the rest, from measured heights
 * (estimates for rows never rendered). Where the reader is kept as an anchor,
 * a message and how far the view's top is past it, so prepending older pages
 * or rows changing height never moves what is on screen; at the bottom the
 * list sticks to the newest message.
 */
function MessageList({ room, onReply, onEdit }: { room: Room; onReply: (m: Message) => void; onEdit: (m: Message) => void }) {
  const ref = useRef<HTMLDivElement>(null)
  const topSpacer = useRef<HTMLLIElement>(null)
  const v = useRef({
    stick: true,
    lastTop: 0,
    anchor: null as { key: string; delta: number } | null,
    jumpSeq: 0,
    heights: new Map<string, number>(),
    viewH: 800,
    rows: [] as Row[],
    range: [0, 0] as [number, number],
    forced: 0,
    ro: null as ResizeObserver | null,
    observed: new Set<Element>(),
  }).current
  const [, setTick] = useState(0)
  const loading = useSignal(false)
  const list = S.messages.value.get(room.id) ?? []
  const pend = S.pending.value.filter((p) => p.roomId === room.id)
  const jump = S.jumpTo.value

  const rows: Row[] = []
  let prev: Message | undefined
  for (const m of list) {
    if (!prev || dayKey(prev.created_at) !== dayKey(m.created_at)) {
      rows.push({ key: `d${m.seq}`, m, day: true, grouped: false })
      prev = undefined
    }
    const grouped = !!prev && !prev.deleted && prev.sender?.id === m.sender?.id && Date.parse(m.created_at) - Date.parse(prev.created_at) < 5 * 60_000 && !m.reply_to_id
    rows.push({ key: `m${m.id}`, m, day: false, grouped })
    prev = m
  }
  v.rows = rows

  /** Row offsets (from measured heights or estimates) and the rows to render for where the view is. */
  const windowed = () => {
    const offsets = [0]
    for (const r of v.rows) offsets.push(offsets.at(-1)! + (v.heights.get(r.key) ?? estimate(r)))
    const total = offsets.at(-1)!
    const index = (pred: (r: Row) => boolean) => v.rows.findIndex(pred)
    let top: number | null = null
    if (v.jumpSeq) {
      const i = index((r) => !r.day && r.m.seq === v.jumpSeq)
      if (i >= 0) top = offsets[i]! - v.viewH / 2
    }
    if (top === null && v.stick) top = total - v.viewH
    if (top === null && v.anchor) {
      const key = v.anchor.key
      const i = index((r) => r.key === key)
      if (i >= 0) top = offsets[i]! + v.anchor.delta
    }
    top = Math.max(0, Math.min(top ?? 0, total - v.viewH))
    const start = v.rows.length ? rowAt(offsets, top - OVERSCAN) : 0
    const end = v.rows.length ? rowAt(offsets, top + v.viewH + OVERSCAN) + 1 : 0
    return { offsets, total, start, end }
  }
  const { offsets, total, start, end } = windowed()
  v.range = [start, end]

  const rowEls = (el: HTMLElement) => el.querySelectorAll<HTMLElement>('#log > li[data-key]')

  /** Where the reader is: the first message whose bottom is below the view's top, and how far past its top the view is. */
  const capture = () => {
    const el = ref.current
    if (!el) return
    const viewTop = el.getBoundingClientRect().top
    const els = rowEls(el)
    const first = els[0]?.getBoundingClientRect()
    const inSpacer = !first || (first.top > viewTop + 1 && v.range[0] > 0)
    if (!inSpacer) {
      // the first message that starts in view, but not the oldest loaded one: an older page coming in
      // changes that one (its grouping, its date separator); else the message the view's top is in
      const oldest = v.rows.find((r) => !r.day)?.key
      let cover: HTMLElement | null = null
      for (const li of els) {
        if (!li.classList.contains('msg')) continue
        const r = li.getBoundingClientRect()
        if (r.bottom <= viewTop) continue
        cover ??= li
        if (r.top >= viewTop - 0.5 && li.dataset.key !== oldest) {
          v.anchor = { key: li.dataset.key!, delta: viewTop - r.top }
          return
        }
        if (r.top > viewTop + v.viewH) break
      }
      if (cover) {
        v.anchor = { key: cover.dataset.key!, delta: viewTop - cover.getBoundingClientRect().top }
        return
      }
    }
    // the view is over a spacer (a fast scroll): where it is, by the offsets
    const { offsets } = windowed()
    const y = viewTop - (topSpacer.current?.getBoundingClientRect().top ?? viewTop)
    let i = rowAt(offsets, y)
    if (v.rows[i]?.day && i + 1 < v.rows.length) i++
    const row = v.rows[i]
    if (row) v.anchor = { key: row.key, delta: y - offsets[i]! }
  }

  /** Puts the view back where the reader was: the bottom when sticking to it, else the anchor where it was. */
  const place = () => {
    const el = ref.current
    if (!el) return
    if (v.stick) {
      el.scrollTop = el.scrollHeight
      return
    }
    const a = v.anchor
    const li = a && el.querySelector<HTMLElement>(`#log > li[data-key="${a.key}"]`)
    if (!a || !li) return
    const want = li.getBoundingClientRect().top - el.getBoundingClientRect().top + el.scrollTop + a.delta
    if (Math.abs(el.scrollTop - want) > 0.5) el.scrollTop = want
  }

  /** Renders again when the rows the view needs are not the ones in the DOM. */
  const check = () => {
    const w = windowed()
    // (bounded: measuring the new rows can move the window again, a few times at most)
    if (w.start === v.range[0] && w.end === v.range[1]) v.forced = 0
    else if (v.forced++ < 20) setTick((n) => n + 1)
  }

  /** Measures the rendered rows; true when a height changed. */
  const measure = (els: Iterable<HTMLElement>) => {
    let changed = false
    for (const li of els) {
      if (!li.isConnected || !li.dataset.key) continue
      const h = li.getBoundingClientRect().height
      if (h > 0 && Math.abs((v.heights.get(li.dataset.key) ?? -1) - h) > 0.5) {
        v.heights.set(li.dataset.key, h)
        changed = true
      }
    }
    return changed
  }

  useLayoutEffect(() => {
    const el = ref.current
    if (!el) return
    v.viewH = el.clientHeight || v.viewH
    if (!v.ro) {
      // rows change height after they render (an image loads, reactions wrap) and the view changes size
      v.ro = new ResizeObserver((entries) => {
        const resized = entries.some((e) => e.target === el)
        if (resized) v.viewH = el.clientHeight || v.viewH
        if (measure(entries.map((e) => e.target as HTMLElement)) || resized) {
          place()
          check()
        }
      })
      v.ro.observe(el)
    }
    const els = [...rowEls(el)]
    for (const li of els) {
      if (!v.observed.has(li)) {
        v.observed.add(li)
        v.ro.observe(li)
      }
    }
    for (const li of v.observed) {
      if (!li.isConnected) {
        v.observed.delete(li)
        v.ro.unobserve(li)
      }
    }
    measure(els)
    const target = v.jumpSeq ? document.getElementById(`m-${v.jumpSeq}`) : null
    if (target) {
      v.jumpSeq = 0
      v.stick = false
      target.scrollIntoView({ block: 'center' })
      target.classList.add('flash')
      target.setAttribute('tabindex', '-1')
      target.focus({ preventScroll: true })
      setTimeout(() => target.classList.remove('flash'), 2000)
      v.lastTop = el.scrollTop
      capture()
    } else {
      if (v.jumpSeq && !v.rows.some((r) => r.m.seq === v.jumpSeq)) v.jumpSeq = 0
      place()
    }
    check()
    // a render can bring the top rows in without a scroll event (or the newest page does not fill the view)
    void older()
  })

  /** Near the top of what is loaded: the next older page (the anchor keeps what the reader was looking at in place). */
  const older = async () => {
    const el = ref.current
    if (!el || v.range[0] !== 0 || el.scrollTop >= 300 || loading.value || !S.hasOlder.value.get(room.id)) return
    loading.value = true
    try {
      await S.loadOlder(room.id)
    } catch (e) {
      S.report(e)
    } finally {
      loading.value = false
    }
  }

  useEffect(() => () => v.ro?.disconnect(), [])

  useEffect(() => {
    if (!jump || jump.roomId !== room.id) return
    v.jumpSeq = jump.seq
    v.stick = false
    v.forced = 0
    setTick((n) => n + 1)
  }, [jump?.at])

  const onScroll = async () => {
    const el = ref.current
    if (!el) return
    v.forced = 0
    v.viewH = el.clientHeight || v.viewH
    // reaching the bottom sticks to it; only scrolling up leaves it (content growing below does not)
    if (el.scrollHeight - el.scrollTop - el.clientHeight < 40) v.stick = true
    else if (el.scrollTop < v.lastTop - 1) v.stick = false
    v.lastTop = el.scrollTop
    capture()
    check()
    await older()
  }

  return (
    <div class="messages" ref={ref} onScroll={onScroll} tabIndex={0} aria-label={t.messages} role="log" aria-live="polite">
      {loading.value && <p class="muted center">{t.older}</p>}
      <ul id="log" data-count={list.length}>
        <li class="spacer" aria-hidden="true" ref={topSpacer} style={{ height: `${offsets[start]}px` }} />
        {rows.slice(start, end).map((r) =>
          r.day ? (
            <li key={r.key} data-key={r.key} class="day"><span>{dayLabel(r.m.created_at)}</span></li>
          ) : (
            <MessageItem key={r.key} m={r.m} grouped={r.grouped} room={room} onReply={onReply} onEdit={onEdit} />
          ),
        )}
        <li class="spacer" aria-hidden="true" style={{ height: `${total - offsets[end]!}px` }} />
        {pend.map((p) => (
          <li key={p.clientMsgId} class="msg mine pending" data-pending={p.clientMsgId}>
            <span class="avatar-gap" />
            <div class="body"><p class="text">{p.content}</p>{p.failed && <small class="error">{p.failed}</small>}</div>
          </li>
        ))}
      </ul>
    </div>
  )
}

function Composer({ room, reply, editing, text, done }: { room: Room; reply: Message | null; editing: Message | null; text: Signal<string>; done: () => void }) {
  const file = useRef<HTMLInputElement>(null)
  const submit = (e: Event) => {
    e.preventDefault()
    const content = text.value.trim()
    if (!content) return
    if (editing) S.editMessage(editing, content).catch(S.report)
    else S.send(room.id, content, reply?.id ?? null)
    text.value = ''
    S.sendTyping(room.id, false)
    done()
  }
  const box = useRef<HTMLTextAreaElement>(null)
  useEffect(() => {
    if (editing || reply) box.current?.focus()
  }, [editing?.id, reply?.id])
  const up = S.uploads.value.filter((u) => u.roomId === room.id)
  return (
    <form class="composer" id="send" onSubmit={submit}>
      {(reply || editing) && (
        <div class="replying">
          <span>{editing ? t.editing : `${t.replyingTo} ${reply?.sender?.nickname ?? ''}: ${reply?.content ?? ''}`}</span>
          <button type="button" class="icon" aria-label={t.cancel} onClick={done}>✕</button>
        </div>
      )}
      {up.map((u) => (
        <div key={u.id} class="upload">
          <span>{t.uploading} {u.name}</span>
          <progress max={u.total || 1} value={u.sent} aria-label={`${t.uploading} ${u.name}`} />
        </div>
      ))}
      <div class="row">
        <button type="button" class="icon" aria-label={t.attach} title={t.attach} onClick={() => file.current?.click()}>📎</button>
        <input ref={file} type="file" class="sr-only" tabIndex={-1} aria-label={t.attach} multiple onChange={(e) => {
          for (const f of e.currentTarget.files ?? []) void S.upload(room.id, f)
          e.currentTarget.value = ''
        }} />
        <textarea id="composer" ref={box} rows={1} aria-label={t.message} placeholder={t.message} value={text.value}
          onInput={(e) => {
            text.value = e.currentTarget.value
            S.sendTyping(room.id, text.value.length > 0)
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) submit(e)
            if (e.key === 'Escape') done()
          }}
          onPaste={(e) => {
            const files = [...(e.clipboardData?.files ?? [])]
            if (files.length) {
              e.preventDefault()
              for (const f of files) void S.upload(room.id, f)
            }
          }} />
        <button class="primary">{t.send}</button>
      </div>
    </form>
  )
}

function RoomView({ room }: { room: Room }) {
  const reply = useSignal<Message | null>(null)
  const editing = useSignal<Message | null>(null)
  const text = useSignal('')
  const panel = useSignal<'search' | null>(null)
  const dlg = useSignal<DialogKind>(null)
  const dragging = useSignal(false)
  const typingNames = [...(S.typing.value.get(room.id)?.values() ?? [])]
  const isDirect = room.type === 'direct'
  const other = isDirect ? S.members.value.get(room.id)?.find((m) => m.user.id !== S.me.value?.id)?.user : undefined
  return (
    <main class={`room-view${dragging.value ? ' dragging' : ''}`} aria-label={roomTitle(room)}
      onDragOver={(e) => {
        e.preventDefault()
        dragging.value = true
      }}
      onDragLeave={() => (dragging.value = false)}
      onDrop={(e) => {
        e.preventDefault()
        dragging.value = false
        for (const f of e.dataTransfer?.files ?? []) void S.upload(room.id, f)
      }}>
      <header class="room-head">
        <button class="icon back" aria-label={t.back} onClick={S.closeRoom}>←</button>
        <h2 id="room-title">{other && <Dot on={S.present.value.has(other.id)} />} {roomTitle(room)}</h2>
        <button class="icon" aria-label={t.search} title={t.search} id="open-search" onClick={() => (panel.value = panel.value ? null : 'search')}>🔍</button>
        <button class="icon" aria-label={`${t.members} ${room.member_count}`} title={t.members} onClick={() => (dlg.value = 'members')}><span aria-hidden="true">👤</span><small>{room.member_count}</small></button>
        {room.type === 'group' && <button class="icon" aria-label={t.invite} title={t.invite} id="invite" onClick={() => (dlg.value = 'invite')}>＋</button>}
        <button class="icon" aria-label={t.settings} title={t.settings} id="room-settings" onClick={() => (dlg.value = 'settings')}>⚙</button>
      </header>
      {panel.value === 'search' && <SearchPanel room={room} onClose={() => (panel.value = null)} />}
      <MessageList room={room} onReply={(m) => {
        editing.value = null
        reply.value = m
      }} onEdit={(m) => {
        reply.value = null
        editing.value = m
        text.value = m.content
      }} />
      <p class="typing" id="typing" aria-live="polite">{typingNames.length > 0 ? `${typingNames.join(', ')} ${typingNames.length > 1 ? t.typingMany : t.typing}` : ''}</p>
      <Composer room={room} reply={reply.value} editing={editing.value} text={text} done={() => {
        if (editing.value) text.value = ''
        reply.value = editing.value = null
      }} />
      {dragging.value && <div class="drop-hint">{t.dropHere}</div>}
      {dlg.value === 'invite' && <InviteDialog room={room} onClose={() => (dlg.value = null)} />}
      {dlg.value === 'members' && <MembersDialog room={room} onClose={() => (dlg.value = null)} />}
      {dlg.value === 'settings' && <SettingsDialog room={room} onClose={() => (dlg.value = null)} />}
    </main>
  )
}

export function App() {
  const dlg = useSignal<DialogKind>(null)
  const room = useComputed(() => S.currentRoom.value)
  useSignalEffect(() => {
    const r = room.value
    const unread = S.rooms.value.reduce((n, x) => n + x.unread_count, 0)
    document.title = `${unread > 0 ? `(${unread}) ` : ''}${r ? `${roomTitle(r)} · ` : ''}${t.appName}`
  })
  useEffect(() => {
    // coming back to the tab: the open room is read
    const onVisible = () => {
      const r = S.currentRoom.value
      if (document.visibilityState === 'visible' && r && r.unread_count > 0) void S.openRoom(r.id)
    }
    document.addEventListener('visibilitychange', onVisible)
    return () => document.removeEventListener('visibilitychange', onVisible)
  }, [])
  if (!S.booted.value) return <main class="auth"><p class="muted">…</p></main>
  if (!S.me.value) return <SignIn />
  const close = () => (dlg.value = null)
  return (
    <div class={`shell${room.value ? ' has-room' : ''}`}>
      <Rail open={(d) => (dlg.value = d)} />
      <RoomList open={(d) => (dlg.value = d)} />
      {room.value ? <RoomView key={room.value.id} room={room.value} /> : <main class="empty"><p class="muted">{t.pickRoom}</p></main>}
      {dlg.value === 'direct' && <DirectDialog onClose={close} />}
      {dlg.value === 'group' && <GroupDialog onClose={close} />}
      {dlg.value === 'space' && <SpaceDialog onClose={close} />}
      {dlg.value === 'profile' && <ProfileDialog onClose={close} />}
      {S.toast.value && (
        <div class="toast" role="alert">
          {S.toast.value} <button class="icon" aria-label={t.close} onClick={() => (S.toast.value = null)}>✕</button>
        </div>
      )}
    </div>
  )
}
