import { toOpenAPISchema } from '@elysiajs/openapi/openapi'
import { SwaggerUIRender } from '@elysiajs/openapi/swagger'
import { OptionalKind, type TSchema } from '@sinclair/typebox'
import { Elysia, type AnyElysia, type InternalRoute } from 'elysia'
import { dirname, join } from 'node:path'
import { notFound } from '../lib/errors'
import { asyncApiDocument } from '../protocol/asyncapi'
import { exampleErrors } from '../protocol/examples'
import { schemaComponents, type JsonSchema } from '../protocol/json-schema'
import * as O from '../protocol/objects'
import * as P from '../protocol/payloads'
import { errorMeaning, Tags, type ErrorStatus } from './route-docs'

/** The UI's files, from the installed swagger-ui-dist package: /docs works offline, with no CDN. */
const assetDir = dirname(Bun.resolveSync('swagger-ui-dist/package.json', import.meta.dir))
const assets: Record<string, string> = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
}

/** The UI page puts `description` into <meta> attributes as it is: no quotes or angle brackets in it. */
const info = {
  title: 'Chat server API',
  version: '1',
  description: [
    'REST routes of the chat server (docs/api.md in the repository).',
    'Live events and sends go over one WebSocket at `/v1/ws`: its frames are in the',
    '[AsyncAPI document](/docs/asyncapi.json) (docs/protocol.md in the repository).',
    'Every error answers `{detail, code}`: a sentence and a machine code.',
    'In gateway mode (AUTH_MODE=gateway) the gateway\'s signed X-User-* headers replace the bearer token (docs/gateway.md).',
  ].join(' '),
}

/** Named schemas of the document (components.schemas), objects first: a subschema equal to one becomes a $ref. */
const named: Record<string, TSchema> = {
  User: O.User, Sender: O.Sender, Attachment: O.Attachment, Reaction: O.Reaction, Message: O.Message, SearchHit: O.SearchHit,
  Room: O.Room, Member: O.Member, PresenceEntry: O.PresenceEntry, RoomSettings: O.RoomSettings, Error: O.ErrorBody,
  Space: O.Space, SpaceMember: O.SpaceMember, Invite: O.Invite, Ban: O.Ban, Session: O.Session, TokenPair: O.TokenPair,
  UserList: O.UserList, RoomPage: O.RoomPage, MemberList: O.MemberList, SpaceMemberList: O.SpaceMemberList,
  PresenceList: O.PresenceList, BanList: O.BanList, SpaceList: O.SpaceList, MessagePage: O.MessagePage,
  SearchPage: O.SearchPage, ReadMark: O.ReadMark, Health: O.Health, Readiness: O.Readiness,
  Role: O.Role, Visibility: O.Visibility, RoomType: O.RoomType, MessageType: O.MessageType, LeaveReason: O.LeaveReason,
  Register: P.Register, Login: P.Login, RefreshToken: P.RefreshToken, UpdateProfile: P.UpdateProfile,
  CreateRoom: P.CreateRoom, UpdateRoom: P.UpdateRoom, AddMembers: P.AddMembers, SetRole: P.SetRole, CreateBan: P.CreateBan,
  CreateSpace: P.CreateSpace, UpdateSpace: P.UpdateSpace, JoinSpace: P.JoinSpace, CreateInvite: P.CreateInvite,
  CreateChannel: P.CreateChannel, SendMessage: P.SendMessage, EditMessage: P.EditMessage, MarkRead: P.MarkRead,
  UpdateSettings: P.UpdateSettings,
}

type Operation = Record<string, unknown> & { parameters?: { schema?: JsonSchema }[]; responses?: Record<string, unknown> }
type RouteHooks = { body?: TSchema; detail?: Record<string, unknown> }

/**
 * Every route of the app a plugin was used in. Elysia rebinds a used
 * plugin's (protected) getGlobalRoutes to the root's, which is how
 * @elysiajs/openapi reads them too; `routes` would list the plugin's own only.
 */
const globalRoutes = (app: AnyElysia): InternalRoute[] => (app as unknown as { getGlobalRoutes(): InternalRoute[] }).getGlobalRoutes()

/**
 * Path and query integers are parsed from strings: Elysia documents them as
 * "a numeric string or an integer". The document says what a client sends:
 * an integer, with its bounds.
 */
function paramSchema(s: JsonSchema): JsonSchema {
  const anyOf = s.anyOf
  if (!Array.isArray(anyOf)) return s
  const int = (anyOf as JsonSchema[]).find((b) => b.type === 'integer')
  return int && anyOf.length === 2 && (anyOf as JsonSchema[]).some((b) => b.type === 'string' && b.format === 'integer') ? int : s
}

/**
 * The OpenAPI 3.1 document of every route of `app`. @elysiajs/openapi walks
 * the routes (paths, parameters, `detail`); this adds what it cannot see
 * here: request bodies (the app's own body parser hides their media type from
 * it), the shared schemas as components, and the error answers.
 */
export function openApiDocument(app: AnyElysia): Record<string, unknown> {
  const components = schemaComponents(named, '#/components/schemas/')
  const generated = toOpenAPISchema(app, { paths: [/^\/docs(\/|$)/], methods: ['options', 'ws', 'subscribe'] }, undefined, undefined, '3.1.2')
  const paths = generated.paths as Record<string, Record<string, Operation>>
  const hooks = new Map<string, RouteHooks>()
  for (const r of globalRoutes(app)) hooks.set(`${r.method.toLowerCase()} ${r.path.replace(/:([^/]+)/g, '{$1}')}`, r.hooks as RouteHooks)

  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      for (const p of op.parameters ?? []) if (p.schema) p.schema = paramSchema(p.schema)
      const h = hooks.get(`${method} ${path}`)
      const example = op['x-request-example']
      delete op['x-request-example']
      if (h?.body) {
        const multipart = typeof h.detail?.['x-multipart-max-bytes'] === 'number'
        const schema = components.ref(h.body)
        // Elysia's t.File() carries `default: "File"`, which is no default a client can use
        for (const p of Object.values((schema.properties ?? {}) as Record<string, JsonSchema>)) if (p.format === 'binary') delete p.default
        op.requestBody = {
          required: (h.body as unknown as Record<symbol, unknown>)[OptionalKind] !== 'Optional',
          content: {
            [multipart ? 'multipart/form-data' : 'application/json']: {
              schema,
              ...(example === undefined ? {} : { example }),
            },
          },
        }
      }
      if (op.responses) {
        for (const res of Object.values(op.responses) as { content?: Record<string, { schema?: JsonSchema }> }[]) {
          for (const media of Object.values(res.content ?? {})) if (media.schema) media.schema = components.ref(media.schema)
        }
      }
    }
  }

  const errorResponses = Object.fromEntries(Object.entries(exampleErrors).map(([status, example]) => [
    `Error${status}`,
    {
      description: errorMeaning[Number(status) as ErrorStatus],
      ...(status === '429' ? { headers: { 'Retry-After': { description: 'seconds to wait', schema: { type: 'integer', minimum: 1 } } } } : {}),
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' }, example } },
    },
  ]))

  return {
    openapi: '3.1.2',
    info,
    tags: Object.entries(Tags).map(([name, description]) => ({ name, description })),
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: components.schemas,
      responses: errorResponses,
    },
  }
}

/**
 * `GET /docs`: the OpenAPI UI; `GET /docs/json`: the OpenAPI document;
 * `GET /docs/asyncapi.json`: the AsyncAPI document of the WebSocket protocol.
 * Both documents are built on first request (every route exists by then) and kept.
 */
export const docsRoutes = () => {
  const page = SwaggerUIRender(info, {
    url: '/docs/json', dom_id: '#swagger-ui',
    cdn: '/docs/assets/swagger-ui-bundle.js', theme: '/docs/assets/swagger-ui.css', autoDarkMode: false,
  })
  let openapi: { routes: number; json: string } | null = null
  let asyncapi: string | null = null
  const json = (text: string) => new Response(text, { headers: { 'content-type': 'application/json; charset=utf-8' } })
  // the routes are read through this plugin (Elysia shares the whole app's route list with it)
  let self: AnyElysia | null = null
  const plugin = new Elysia()
    .get('/docs', () => new Response(page, { headers: { 'content-type': 'text/html; charset=utf-8' } }), { detail: { hide: true } })
    .get('/docs/json', () => {
      const app = self!
      const routes = globalRoutes(app).length
      if (openapi?.routes !== routes) openapi = { routes, json: JSON.stringify(openApiDocument(app)) }
      return json(openapi.json)
    }, { detail: { hide: true } })
    .get('/docs/asyncapi.json', () => json(asyncapi ??= JSON.stringify(asyncApiDocument())), { detail: { hide: true } })
    .get('/docs/assets/:name', ({ params }) => {
      const type = Object.hasOwn(assets, params.name) ? assets[params.name] : undefined
      if (!type) throw notFound('File')
      return new Response(Bun.file(join(assetDir, params.name)), {
        headers: { 'content-type': type, 'cache-control': 'public, max-age=86400', 'x-content-type-options': 'nosniff' },
      })
    }, { detail: { hide: true } })
  self = plugin
  return plugin
}
