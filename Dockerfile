# Chat server image: multi-stage on the official Bun image, runs as non-root.
FROM oven/bun:1.4.5 AS deps
WORKDIR /app
COPY package.json bun.lock ./
COPY patches ./patches
RUN bun install --frozen-lockfile --production

FROM oven/bun:1.4.5-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 DATA_DIR=/data
COPY --from=deps /app/node_modules ./node_modules
COPY package.json bun.lock ./
COPY src ./src
# the web app (web/) is bundled at start-up with Bun.build; it imports the client SDK (client/)
COPY web ./web
COPY client ./client
COPY scripts ./scripts
COPY drizzle ./drizzle
RUN mkdir -p /data && chown bun:bun /data
USER bun
EXPOSE 3000
# liveness only: /readyz also fails when Redis or Postgres blips, which must not
# restart every node at once (the balancer uses /readyz for rotation)
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD bun -e "fetch('http://127.0.0.1:3000/healthz').then(r => process.exit(r.ok ? 0 : 1)).catch(() => process.exit(1))"
# bun is PID 1's child of nothing: SIGTERM reaches the server, which drains
CMD ["bun", "src/index.ts"]
