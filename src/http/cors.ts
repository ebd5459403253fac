import { cors } from '@elysiajs/cors'

/**
 * CORS for web apps on other origins (CORS_ORIGINS). Clients authenticate with
 * bearer tokens, not cookies, so credentials stay off. With no origins listed
 * the API answers same-origin only: preflights get no allow-origin header.
 */
export const corsPlugin = (origins: string[]) =>
  cors({
    origin: origins.includes('*') ? '*' : origins,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
    exposeHeaders: ['retry-after', 'x-request-id', 'content-disposition'],
    credentials: false,
    maxAge: 600,
  })
