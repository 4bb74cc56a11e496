# syntax=docker/dockerfile:1.7
# The region agent image: `node dist/region-agent/src/main.js`, health on HEALTH_PORT (8080).
# Build from the repository root:
#   docker build -f deploy/docker/region-agent.Dockerfile -t ghcr.io/example/addon-region-agent:0.1.0 .
# Production runs the kubernetes driver, which needs no system packages (certificates are signed
# in-process). For a self-contained local-driver image (demos only) add redis-server with:
# --build-arg WITH_REDIS=true

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: full dependencies, TypeScript → dist/ -------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci when the lockfile is complete; npm install (still the locked versions) when it lacks
# other-platform optional binaries, as .ci/run does.
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund || npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY shared/src shared/src
COPY region-agent/src region-agent/src
# tsconfig.build.json also includes control-plane/src: absent here, so only the agent and
# shared/ are compiled.
RUN npm run build && test -f dist/region-agent/src/main.js

# ---- deps: production dependencies only -------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    (npm ci --omit=dev --no-audit --no-fund || npm install --omit=dev --no-audit --no-fund) \
 && npm cache clean --force

# ---- runtime ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG WITH_REDIS=false
ENV NODE_ENV=production \
    HEALTH_PORT=8080 \
    AGENT_DRIVER=kubernetes
RUN if [ "$WITH_REDIS" = "true" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends redis-server \
      && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /app
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
# Owned by root, read-only for the app user; the chart mounts emptyDirs at /tmp and the data dir.
# package.json carries "type": "module", which dist/ needs.
COPY package.json ./
COPY --from=deps /src/node_modules node_modules
COPY --from=build /src/dist dist
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
CMD ["node", "dist/region-agent/src/main.js"]
