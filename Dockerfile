# Switchboard container image.
#   docker build -t switchboard .
#   docker run -v $PWD/config.yaml:/etc/switchboard/config.yaml -v switchboard-data:/var/lib/switchboard \
#     -p 8080:8080 switchboard
#   docker run --rm -v switchboard-data:/var/lib/switchboard -v /var/lib/headscale:/headscale:ro switchboard \
#     import headscale --db /headscale/db.sqlite --noise-key /headscale/noise_private.key
# scripts/docker-steps.sh runs these steps without Docker (test/packaging/docker.test.ts);
# keep the two in step.

# ---- build: native addons (better-sqlite3, zstd-napi) compile here, then dev deps go ----
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# npm 11 honours package.json's allowScripts (Prisma's engine download stays off).
RUN npm install -g npm@11
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

# ---- runtime ----
FROM node:20-bookworm-slim
RUN groupadd --system switchboard \
 && useradd --system --gid switchboard --home-dir /var/lib/switchboard --shell /usr/sbin/nologin switchboard \
 && mkdir -p /var/lib/switchboard /var/run/switchboard /etc/switchboard \
 && chown switchboard:switchboard /var/lib/switchboard /var/run/switchboard \
 && chmod 0750 /var/lib/switchboard /var/run/switchboard
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/prisma ./prisma
RUN ln -s ../../../app/bin/switchboard.js /usr/local/bin/switchboard
# The example config with state under /var/lib/switchboard, listening on all interfaces;
# mount your own over it.
COPY config.example.yaml /etc/switchboard/config.example.yaml
RUN sed -e 's|^listen_addr: .*|listen_addr: 0.0.0.0:8080|' /etc/switchboard/config.example.yaml > /etc/switchboard/config.yaml
ENV SWITCHBOARD_CONFIG=/etc/switchboard/config.yaml NODE_ENV=production
VOLUME /var/lib/switchboard
EXPOSE 8080 3478/udp
USER switchboard
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `switchboard serve` by default; any other subcommand replaces "serve" (import, users, ...).
ENTRYPOINT ["switchboard"]
CMD ["serve"]
