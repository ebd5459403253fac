import { Type, type TSchema, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { parseClusterNodes } from './lib/redis'

/** An integer variable: its range, its default, what it means. */
const Int = (min: number, max: number, dflt: number, doc: string) =>
  Type.Integer({ minimum: min, maximum: max, default: dflt, description: doc })
/** A text variable and its default. */
const Str = (dflt: string, doc: string) => Type.String({ default: dflt, description: doc })
/** A text variable whose value, when unset, loadConfig derives (NODE_ID, JWT_SECRET). */
const Derived = (doc: string) => Type.String({ description: doc })
/** A text variable that may stay unset. */
const OptStr = (doc: string) => Type.Optional(Type.String({ minLength: 1, description: doc }))
/** One of a few words, and the default word. */
const OneOf = <const T extends string>(values: readonly T[], dflt: T, doc: string) =>
  Type.Union(values.map((v) => Type.Literal(v)), { default: dflt, description: doc })

/**
 * The environment of API.md "Running", as one schema. Every key is the
 * environment variable's name; every field carries its default (as
 * `default`) beside its range and one-line doc.
 */
export const ConfigSchema = Type.Object({
  PORT: Int(0, 65535, 3000, 'TCP port to listen on (0 = any free port)'),
  HOST: Str('0.0.0.0', 'address to listen on'),
  LISTEN_BACKLOG: Int(0, 65535, 4096, "connections the kernel holds for accept (capped by net.core.somaxconn; Linux); 0 = Bun's own 512"),
  DATABASE_URL: OptStr('postgres://… for Postgres, memory:// for a throw-away embedded database; unset = PGlite in DATA_DIR'),
  DATA_DIR: Str('./data', 'embedded database and uploads'),
  REDIS_URL: OptStr('redis://…; enables several nodes; unset = one node, in-process bus'),
  REDIS_CLUSTER_NODES: Str('', 'host:port,… of a Redis Cluster (some of its nodes; the rest are discovered): sharded pub/sub; takes the place of REDIS_URL'),
  REDIS_PREFIX: Str('chat:', 'prefix of every Redis key and channel'),
  PRESENCE_TTL_MS: Int(1000, 600_000, 30_000, "a crashed node's users go offline within this, ms"),
  PRESENCE_COALESCE_MS: Int(0, 60_000, 1000, "presence: at most one event per user per room in this window, the last state winning, ms (0 = every change at once)"),
  PRESENCE_ROOM_MAX_MEMBERS: Int(0, 1_000_000, 50, 'presence: rooms (and spaces) with more members get presence only on request (GET presence, presence.subscribe)'),
  NODE_ID: Derived("this node's name in logs, metrics and relay; unset = hostname-pid"),
  NODE_ENV: Str('development', 'production requires JWT_SECRET'),
  JWT_SECRET: Derived('token signing key; unset = a random one per run (not in production)'),
  ACCESS_TTL: Int(1, 86_400 * 30, 900, 'access token lifetime, seconds'),
  REFRESH_TTL: Int(60, 86_400 * 3650, 2_592_000, 'refresh token lifetime, seconds'),
  AUTH_MODE: OneOf(['jwt', 'gateway'], 'jwt', 'jwt or gateway'),
  GATEWAY_SECRET: OptStr('HMAC key of the API gateway (AUTH_MODE=gateway)'),
  FLUSH_MS: Int(0, 1000, 2, 'writer: at idle a message commits at once; while a batch commits, longest wait before a free lane takes the next, ms (0 = next tick)'),
  BATCH_MAX: Int(1, 100_000, 1000, 'writer: messages per transaction at most'),
  WRITER_LANES: Int(1, 64, 2, 'writer: parallel commit loops, rooms split among them by id'),
  WRITE_QUEUE_MAX: Int(1, 10_000_000, 50_000, 'writer: messages waiting at most; past it sends fail with unavailable'),
  MAX_ROOM_MEMBERS: Int(2, 100_000, 100, 'members of a group room'),
  MAX_SPACE_MEMBERS: Int(2, 1_000_000, 1000, 'members of a space'),
  MAX_MESSAGE_CHARS: Int(1, 1_000_000, 1000, 'message length in code points'),
  MAX_FRAME_BYTES: Int(256, 16 * 1024 * 1024, 16_384, 'largest WebSocket frame, bytes'),
  MAX_UPLOAD_BYTES: Int(1, 1024 * 1024 * 1024, 10 * 1024 * 1024, 'largest upload, bytes'),
  RATE_MESSAGES: Int(0, 1_000_000, 20, 'messages per second per user (burst twice it); 0 = no limit'),
  RATE_AUTH: Int(0, 1_000_000, 30, 'register, login and refresh attempts per client IP per minute; 0 = no limit'),
  RATE_LOGIN_FAILURES: Int(0, 1_000_000, 10, 'failed logins per email per 15 minutes; 0 = no limit'),
  TRUST_PROXY: Int(0, 1, 0, '1: the client IP is the first X-Forwarded-For address (only behind a proxy that sets it)'),
  FILE_URL_TTL: Int(1, 86_400 * 365, 3600, 'signed file URL lifetime, seconds'),
  S3_BUCKET: OptStr('S3-compatible bucket for uploads; unset = local disk under DATA_DIR'),
  S3_ENDPOINT: OptStr('S3 endpoint URL (MinIO, R2, …); unset = AWS'),
  S3_REGION: OptStr('S3 region'),
  S3_ACCESS_KEY_ID: OptStr('S3 access key'),
  S3_SECRET_ACCESS_KEY: OptStr('S3 secret key'),
  LOG_LEVEL: OneOf(['debug', 'info', 'warn', 'error'], 'info', 'least severe level logged'),
  SEQUENCER_WAIT_MS: Int(1, 10_000, 50, 'how long a node holds later events before filling a seq gap from the database, ms'),
  WS_IDLE_SECONDS: Int(5, 960, 60, 'a socket silent this long is pinged, and closed if still silent'),
  WS_TRANSPORT: OneOf(['bun', 'elysia'], 'bun', "who serves WebSockets: bun = the node's fetch upgrades before the app; elysia = the app's ws() routes"),
  WS_BACKPRESSURE_BYTES: Int(1024, 1024 * 1024 * 1024, 4 * 1024 * 1024, 'a socket whose send buffer passes this is closed with 1013'),
  RETENTION_SWEEP_MS: Int(1000, 86_400_000, 60_000, 'how often expired messages (retention_days) are deleted, ms'),
  BACKGROUND_PAUSE_MS: Int(0, 10_000, 10, 'search indexer, retention sweep, room purge: pause between two bounded batches, ms'),
  BACKGROUND_MAX_DEFER_MS: Int(0, 60_000, 1000, 'longest a background batch waits for a busy writer to go idle, ms'),
  BACKGROUND_SLICE_MS: Int(0, 10_000, 4, 'what one background batch should take: batch sizes adapt to it (0 = always the largest batch), ms'),
  SHUTDOWN_GRACE_MS: Int(100, 60_000, 8000, 'drain time limit on SIGTERM, ms'),
  CORS_ORIGINS: Str('', 'origins allowed to call the API from a browser, comma-separated (https://app.example.com); * = any; empty = same origin only'),
  OTEL_EXPORTER_OTLP_ENDPOINT: Str('', 'OpenTelemetry collector (http://otel-collector:4318): request spans over OTLP/HTTP; empty = no tracing'),
  OTEL_SERVICE_NAME: Str('chat-server', 'service.name on exported spans'),
  DATABASE_POOL: Int(1, 1000, 10, 'Postgres connections per node'),
  DATABASE_PREPARE: Int(0, 1, 1, '0: no named prepared statements (PgBouncer in transaction mode)'),
  MIGRATE: Int(0, 1, 1, 'apply the migrations in drizzle/ at start (0: a separate `bun run db:migrate` does it)'),
})

export type Config = Static<typeof ConfigSchema> & {
  /** true when JWT_SECRET was generated for this run */
  jwtSecretGenerated: boolean
}

export class ConfigError extends Error {}

/**
 * Builds the config from an environment. Throws ConfigError whose message is
 * one line naming the variable at fault.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const out: Record<string, unknown> = {}
  for (const [key, schema] of Object.entries(ConfigSchema.properties) as [string, TSchema][]) {
    const raw = env[key]?.trim() || (schema.default === undefined ? undefined : String(schema.default))
    if (raw === undefined) continue
    const value = schema.type === 'integer' ? (/^-?\d+$/.test(raw) ? Number(raw) : raw) : raw
    if (!Value.Check(schema, value)) {
      throw new ConfigError(`${key}: invalid value ${JSON.stringify(raw)} (${describe(schema)})`)
    }
    out[key] = value
  }
  if (!out.NODE_ID) out.NODE_ID = `${hostname()}-${process.pid}`
  const url = out.DATABASE_URL as string | undefined
  if (url && !/^(postgres(ql)?|memory):\/\//.test(url)) {
    throw new ConfigError(`DATABASE_URL: must start with postgres://, postgresql:// or memory:// (got ${JSON.stringify(url)})`)
  }
  const redis = out.REDIS_URL as string | undefined
  if (redis && !/^rediss?:\/\//.test(redis)) {
    throw new ConfigError(`REDIS_URL: must start with redis:// or rediss:// (got ${JSON.stringify(redis)})`)
  }
  try {
    parseClusterNodes(out.REDIS_CLUSTER_NODES as string)
  } catch (e) {
    throw new ConfigError(`REDIS_CLUSTER_NODES: ${(e as Error).message}`)
  }
  for (const origin of corsOrigins(out.CORS_ORIGINS as string)) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(`CORS_ORIGINS: ${JSON.stringify(origin)} is not * or an origin such as https://app.example.com`)
    }
  }
  const otel = out.OTEL_EXPORTER_OTLP_ENDPOINT as string
  if (otel && !/^https?:\/\/[^\s]+$/.test(otel)) {
    throw new ConfigError(`OTEL_EXPORTER_OTLP_ENDPOINT: must be an http(s) URL (got ${JSON.stringify(otel)})`)
  }
  let jwtSecretGenerated = false
  if (!out.JWT_SECRET) {
    if (out.NODE_ENV === 'production') throw new ConfigError('JWT_SECRET: required when NODE_ENV=production')
    out.JWT_SECRET = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')
    jwtSecretGenerated = true
  }
  if (out.AUTH_MODE === 'gateway' && !out.GATEWAY_SECRET) {
    throw new ConfigError('GATEWAY_SECRET: required when AUTH_MODE=gateway')
  }
  return { ...(out as Static<typeof ConfigSchema>), jwtSecretGenerated }
}

/** The entries of CORS_ORIGINS. */
export function corsOrigins(value: string): string[] {
  return value.split(',').map((o) => o.trim()).filter((o) => o !== '')
}

/** Where `bun run dev` keeps the development JWT secret it generated. */
export const DEV_SECRET_FILE = '.dev-jwt-secret'

/**
 * The development signing key kept in `dataDir`, created on first use (mode
 * 0600), so logins survive restarts of `bun run dev`. Only for a config whose
 * JWT_SECRET was generated (never in production). Throws if the directory
 * cannot be written.
 */
export function persistedDevSecret(dataDir: string): string {
  const file = join(dataDir, DEV_SECRET_FILE)
  try {
    const kept = readFileSync(file, 'utf8').trim()
    if (/^[0-9a-f]{64}$/.test(kept)) return kept
  } catch {}
  mkdirSync(dataDir, { recursive: true })
  const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')
  writeFileSync(file, `${secret}\n`, { mode: 0o600 })
  chmodSync(file, 0o600)
  return secret
}

function describe(schema: TSchema): string {
  if (schema.type === 'integer') return `an integer from ${schema.minimum} to ${schema.maximum}: ${schema.description}`
  if (schema.anyOf) return `one of ${(schema.anyOf as TSchema[]).map((s) => s.const).join(', ')}`
  return String(schema.description ?? 'a string')
}
