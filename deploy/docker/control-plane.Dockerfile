# syntax=docker/dockerfile:1.7
# The control plane image: `node dist/control-plane/src/main.js` on port 5000.
# Build from the repository root:
#   docker build -f deploy/docker/control-plane.Dockerfile -t ghcr.io/example/addon-control-plane:0.1.0 .
# The Helm hook Job runs `node dist/control-plane/src/migrate-main.js` from the same image.

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
COPY control-plane/src control-plane/src
# tsconfig.build.json also includes region-agent/src: absent here, so only the control plane
# and shared/ are compiled.
RUN npm run build \
 && test -f dist/control-plane/src/main.js \
 && test -f dist/control-plane/src/migrate-main.js

# ---- deps: production dependencies only -------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    (npm ci --omit=dev --no-audit --no-fund || npm install --omit=dev --no-audit --no-fund) \
 && npm cache clean --force

# ---- runtime ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# The old generation's limit also sets how far V8 lets garbage pile up between major GCs: at
# its default (GBs) the heap grew from ~27 MB live to 110 MB under load (RSS 200 MB); at
# 256 MB it stays near 35 MB (RSS ~140 MB). It sits at half the chart's memory limit
# (resources.limits.memory); an operator who raises that can raise this (extraEnv).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-old-space-size=256 \
    PORT=5000
WORKDIR /app
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
# Everything is owned by root and read-only for the app user (the chart also mounts the root
# filesystem read-only; only /tmp is writable).
# package.json carries "type": "module", which dist/ needs.
COPY package.json ./
COPY --from=deps /src/node_modules node_modules
COPY --from=build /src/dist dist
# Data files sit where the compiled code resolves them (paths relative to import.meta.url
# shift by one level under dist/): catalog and migrations next to dist/control-plane/src,
# the manifest at dist/.
COPY control-plane/catalog.json dist/control-plane/catalog.json
COPY control-plane/migrations dist/control-plane/migrations
COPY addon-manifest.json dist/addon-manifest.json
USER 10001:10001
EXPOSE 5000
STOPSIGNAL SIGTERM
CMD ["node", "dist/control-plane/src/main.js"]
