# Billing limits service: the compiled server (`node dist/server.js`) on Node.js 24 (the current LTS
# line; the service also runs on 20.11+ and 22, all three tested in CI), as a non-root user.
#
#   docker build -t billing-limits-service .
#   docker run --rm -p 8000:8000 --stop-timeout 30 \
#     -e BILLING_JWT_SECRET=<at least 32 bytes> -e DATABASE_URL=postgres://user:pw@host:5432/billing \
#     billing-limits-service
#
# Without DATABASE_URL the service keeps its data in embedded PGlite under /app/.data/pglite: mount a
# volume at /app/.data to keep it across containers (PGlite serves one process: one replica only).
# docker-compose.yml runs two replicas on PostgreSQL with Prometheus scraping both.
# The admin CLI is in the image: `docker exec <container> node dist/cli/admin.js --help` (beside the
# running server it writes through the server's admin API, so set BILLING_ADMIN_SECRET on the server).
#
# Plain Dockerfile syntax: no BuildKit-only features, so any builder can build it.

# ---- build: compile src/ to dist/ with the dev dependencies (TypeScript) --------------------------
FROM node:24.21-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The client package is an npm workspace: npm ci wants its manifest (the server does not use it).
COPY packages/client/package.json ./packages/client/
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies, the compiled server and the migrations -------------------
FROM node:24.21-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
# --ignore-scripts: no production dependency needs an install script (tsx and its esbuild, which
# `npm start` and the admin CLI use, are development dependencies; the image runs dist/).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
# postgres.js as patched by the build stage's `npm ci` (patch-package, patches/): without the patch
# a connection lost mid-write crashes the process (porsager/postgres#1154, #1208).
COPY --from=build /app/node_modules/postgres ./node_modules/postgres
COPY --from=build /app/dist ./dist
# The server applies these at start (under an advisory lock on PostgreSQL); it finds them at
# ../../drizzle from dist/db/, i.e. /app/drizzle.
COPY drizzle ./drizzle
# Code and dependencies stay owned by root (read-only for the service); only the PGlite data
# directory belongs to the `node` user (uid 1000) of the base image.
RUN mkdir -p /app/.data && chown node:node /app/.data

ENV HOST=0.0.0.0 \
    PORT=8000 \
    BILLING_DATA_DIR=/app/.data/pglite
USER node

# 8000: the API, /healthz, /readyz (and /metrics unless BILLING_METRICS_PORT is set).
# 9464: /metrics when BILLING_METRICS_PORT=9464, as docker-compose.yml sets it. EXPOSE only documents.
EXPOSE 8000 9464

# Liveness through Node itself: the slim image has no curl or wget. /healthz needs no token.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"

# On SIGTERM the service drains: it keeps serving for BILLING_SHUTDOWN_DELAY_MS while /readyz
# answers 503, then waits up to BILLING_SHUTDOWN_TIMEOUT_MS (default 10 s) for in-flight requests.
# The stop grace period (docker stop -t / --stop-timeout, compose stop_grace_period; Docker's
# default is 10 s) must exceed delay + timeout, or the process is killed mid-drain.
STOPSIGNAL SIGTERM

# Exec form: node is PID 1 and receives SIGTERM itself. PID 1 gets no default signal actions from
# the kernel, but the service installs its own SIGTERM/SIGINT handlers, so no init process is needed
# (and it starts no child processes to reap); `docker run --init` is harmless if you prefer one.
CMD ["node", "dist/server.js"]
