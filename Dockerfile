# Switchboard container image. Build: docker build -t switchboard .
# Run:   docker run -v $PWD/config.yaml:/etc/switchboard/config.yaml -v switchboard-data:/var/lib/switchboard \
#          -p 8080:8080 switchboard
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The native addons (better-sqlite3, zstd-napi) build from source here.
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/package.json ./package.json
COPY config.example.yaml /etc/switchboard/config.example.yaml
RUN mkdir -p /var/lib/switchboard /var/run/switchboard
VOLUME /var/lib/switchboard
EXPOSE 8080 9090
ENV SWITCHBOARD_CONFIG=/etc/switchboard/config.yaml
ENTRYPOINT ["node", "/app/bin/switchboard.js"]
CMD ["serve"]
