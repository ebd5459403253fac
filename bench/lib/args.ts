/** Command-line options of `bun bench/run.ts <scenario> [--option value …]`. */
import { TARGET_KINDS, type TargetKind } from '../targets/targets.ts'

export type Options = {
  scenario: string
  /** total sockets; rooms = sockets / members when --rooms is not given */
  sockets?: number
  rooms?: number
  members?: number
  senders?: number
  /** messages/s per sender; a list runs one round per rate on the same sockets */
  rates?: number[]
  duration?: number
  warmup?: number
  payload?: number
  workers?: number
  connectRate?: number
  users?: number
  inflight?: number
  drain?: number
  /** stop stepping rates once p99 passes this many ms */
  stopP99?: number
  targets?: TargetKind[]
  db?: 'memory' | 'postgres'
  maxMembers?: number
  /** room-limit: members before the storm, joiners in it, rooms at once */
  prefill?: number
  joiners?: number
  /** connect: one socket in this many carries a bad token */
  badEvery?: number
  /** fanout: messages committed but not yet indexed for search when the load starts (as right after a burst) */
  backlog?: number
  /** fanout: runs every target this many times, alternating their order; comparisons give each repeat and the median */
  repeat?: number
  /** cluster: 1 = each of the 3 nodes carries the single node's whole workload (3× the rooms in all), not a third of it */
  perNode?: number
  smoke: boolean
  /** where the JSON/Markdown/SVG go */
  out?: string
  help: boolean
}

const NUM = new Set([
  'sockets', 'rooms', 'members', 'senders', 'duration', 'warmup', 'payload', 'workers', 'connect-rate', 'users',
  'inflight', 'drain', 'stop-p99', 'max-members', 'prefill', 'joiners', 'bad-every', 'backlog', 'repeat', 'per-node',
])

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())

export function parseArgs(argv: string[]): Options {
  const o: Options = { scenario: 'fanout', smoke: false, help: false }
  const rec = o as unknown as Record<string, unknown>
  let i = 0
  if (argv[0] && !argv[0].startsWith('-')) o.scenario = argv[i++]!
  for (; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--smoke') o.smoke = true
    else if (a === '--help' || a === '-h') o.help = true
    else if (a.startsWith('--')) {
      const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined]
      const v = inline ?? argv[++i]
      if (v === undefined) throw new Error(`--${k} needs a value`)
      if (NUM.has(k)) {
        const n = Number(v)
        if (!Number.isFinite(n) || n < 0) throw new Error(`--${k}: not a number: ${v}`)
        rec[camel(k)] = n
      } else if (k === 'rate') {
        o.rates = v.split(',').map(Number)
        if (o.rates.some((r) => !(r > 0))) throw new Error(`--rate: positive numbers, comma-separated: ${v}`)
      } else if (k === 'targets') {
        const ts = v.split(',') as TargetKind[]
        for (const t of ts) if (!TARGET_KINDS.includes(t)) throw new Error(`--targets: unknown ${t} (${TARGET_KINDS.join(', ')})`)
        o.targets = ts
      } else if (k === 'db') {
        if (v !== 'memory' && v !== 'postgres') throw new Error('--db: memory or postgres')
        o.db = v
      } else if (k === 'out') o.out = v
      else throw new Error(`unknown option --${k}`)
    } else throw new Error(`unexpected argument ${a}`)
  }
  return o
}

export const USAGE = `usage: bun bench/run.ts <scenario> [options]   (or: bun run bench <scenario> …)

scenarios:
  channel     one space channel of M members (default 1,000) against a 100-member room, same senders and rate
  fanout      R rooms × M members, S senders per room at a rate: ours, bare Bun, Socket.IO (default 10,000 sockets)
  room-limit  concurrent joins into rooms with k free places: exactly k admitted
  connect     connection storm with token checks (some tokens bad on purpose)
  idle        N idle sockets on one node (default 19,000): RSS and JS heap per socket after a GC
  persist     messages/s committed through our server on Postgres against one INSERT per message
  cluster     3 nodes + Redis against 1 node, same workload
  soak        long, bounded run: RSS and latency must stay flat
  writer      the group-commit writer in process against one INSERT per message, same schema: closed loop (--inflight),
              then an open loop at a fixed offered rate (--rate, default 50000 messages/s); --duration, --warmup
  writer-poison  normal sends' commit wait with and without a row Postgres refuses in every batch (--inflight, --duration)
  search      search latency on a large history (default 1,000,000 messages; --sockets sets the count)

options (defaults depend on the scenario; --smoke picks a few hundred sockets and seconds):
  --sockets N --rooms R --members M --senders S --rate r[,r2,…] --duration s --warmup s
  --payload bytes --workers w --connect-rate n/s --users U --inflight k --drain s --stop-p99 ms
  --targets ours,ours-bun,ours-elysia,bare,socketio --db memory|postgres --max-members N
  --prefill k --joiners n (room-limit) --bad-every n (connect) --backlog n (fanout: unindexed messages at the start)
  --out dir --smoke`

/**
 * `--name value` from the command line as a number, clamped to [min, max]
 * (a load loop stays bounded whatever is asked); `dflt` when absent or not a number.
 */
export function numberArg(name: string, dflt: number, min: number, max: number, argv: string[] = process.argv): number {
  const i = argv.indexOf(`--${name}`)
  const v = i > 0 ? Number(argv[i + 1]) : NaN
  return Math.min(max, Math.max(min, Number.isFinite(v) ? v : dflt))
}
