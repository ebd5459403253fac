import { Elysia, t } from 'elysia'
import type { Authenticator } from '../auth/authenticator'
import { contentDisposition, type FilesService } from '../chat/files'
import type { MessagesService } from '../chat/messages'
import type { RoomsService } from '../chat/rooms'
import { authGuard } from './auth-guard'
import { UploadFields } from '../protocol/payloads'
import { MULTIPART_OVERHEAD_BYTES, multipartBody } from './body'
import { Id } from './schemas'
import { Message } from '../protocol/objects'
import { exampleImageMessage } from '../protocol/examples'
import { doc } from './route-docs'

export const fileRoutes = (d: { files: FilesService; messages: MessagesService; rooms: RoomsService; auth: Authenticator; maxUploadBytes: number }) =>
  new Elysia({ prefix: '/v1' })
    // downloads: a member's bearer token, or the signature the attachment URL carries (for <img>)
    .get('/files/:id', async ({ request, params, query }) => {
      const userId = d.auth.hasCredentials(request.headers) ? await d.auth.fromHeaders(request.headers) : null
      const f = await d.files.open(params.id, { userId, exp: query.exp, sig: query.sig }, d.rooms.isMember)
      return new Response(f.blob, {
        headers: {
          'content-type': f.mime,
          'content-length': String(f.size),
          'content-disposition': contentDisposition(f.image ? 'inline' : 'attachment', f.name),
          'x-content-type-options': 'nosniff',
          'content-security-policy': "default-src 'none'; sandbox",
          'cache-control': 'private, max-age=3600',
        },
      })
    }, {
      params: t.Object({ id: t.String({ format: 'text', maxLength: 64 }) }),
      query: t.Object({ exp: t.Optional(t.String({ format: 'text', maxLength: 20 })), sig: t.Optional(t.String({ format: 'text', maxLength: 128 })) }),
      detail: {
        ...doc({
          tag: 'Messages', summary: 'Download an attachment',
          description: 'Needs a member\'s bearer token, or the signature `attachment.url` carries (`?exp=…&sig=…`, valid `FILE_URL_TTL` seconds) '
            + 'so that an `<img>` can load it. Answers the bytes with their content type and a safe `Content-Disposition`; a deleted message\'s file is 404.',
          ok: { 200: { description: 'The file\'s bytes.', schema: t.String({ format: 'binary' }), media: 'binary' } },
          errors: [401, 403, 404, 422, 503],
        }),
        // a bearer token or the URL's signature: either is enough
        security: [{}, { bearer: [] }],
      },
    })
    .use(authGuard(d.auth))
    .post('/rooms/:id/attachments', async ({ userId, params, body, set }) => {
      const { message, created } = await d.messages.sendAttachment(userId, params.id, body)
      set.status = created ? 201 : 200
      return message
    }, {
      params: t.Object({ id: Id }),
      body: t.Object({ file: t.File(), ...UploadFields.properties }),
      detail: {
        ...multipartBody(d.maxUploadBytes + MULTIPART_OVERHEAD_BYTES),
        ...doc({
          tag: 'Messages', summary: 'Upload an attachment',
          description: 'multipart/form-data: `file`, optional `content` (a caption) and `client_msg_id` (idempotent as for sends). '
            + 'The message is of type `image` when the bytes are an image, else `file`. Over `MAX_UPLOAD_BYTES` → 413.',
          ok: {
            201: { description: 'Sent.', schema: Message, example: exampleImageMessage },
            200: { description: 'Sent before with this `client_msg_id`: the first message.', schema: Message, example: exampleImageMessage },
          },
          errors: [400, 401, 403, 404, 413, 422, 429, 503],
        }),
      },
    })
