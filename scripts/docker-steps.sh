#!/usr/bin/env bash
# The Dockerfile's steps without Docker (no engine runs on CI machines): builds the image's
# file tree under DEST/rootfs, so a test can start its entrypoint with the image's layout.
#   bash scripts/docker-steps.sh DEST          # stage 1 in DEST/build: npm ci, build, prune (network: npm registry)
#   SWITCHBOARD_DOCKER_STEPS_REUSE=1 bash scripts/docker-steps.sh DEST
#                                               # stage 1 skipped: this checkout's dist/ is copied and its
#                                               # node_modules (dev deps included) linked, as they are
# Keep in step with the Dockerfile.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:?usage: docker-steps.sh DEST}"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
rootfs="$dest/rootfs"
rm -rf "$rootfs"

if [ "${SWITCHBOARD_DOCKER_STEPS_REUSE:-}" = 1 ]; then
  [ -f "$root/dist/src/cli/main.js" ] || { echo "docker-steps: no build in $root/dist; run npm run build" >&2; exit 1; }
  app_src="$root"
else
  # ---- build stage: COPY package*.json; npm ci; COPY . . (minus .dockerignore); build; prune ----
  build="$dest/build"
  rm -rf "$build"
  mkdir -p "$build"
  cp "$root/package.json" "$root/package-lock.json" "$build/"
  (cd "$build" && npm ci --no-audit --no-fund)
  # The build context: the checkout as git lists it, minus .dockerignore's patterns.
  (cd "$root" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$root" && tar --anchored --exclude-from=.dockerignore --null -T - -cf -) | (cd "$build" && tar -xf -)
  (cd "$build" && npm run build && npm prune --omit=dev --no-audit --no-fund)
  app_src="$build"
fi

# ---- runtime stage ----
mkdir -p "$rootfs/app" "$rootfs/usr/local/bin" "$rootfs/etc/switchboard" "$rootfs/var/lib/switchboard" "$rootfs/var/run/switchboard"
chmod 0750 "$rootfs/var/lib/switchboard" "$rootfs/var/run/switchboard"
cp "$app_src/package.json" "$rootfs/app/"
for d in bin prisma; do cp -R "$app_src/$d" "$rootfs/app/$d"; done
cp -R "$app_src/dist" "$rootfs/app/dist"
if [ "${SWITCHBOARD_DOCKER_STEPS_REUSE:-}" = 1 ]; then
  ln -s "$(readlink -f "$root/node_modules")" "$rootfs/app/node_modules"
else
  cp -R "$app_src/node_modules" "$rootfs/app/node_modules"
fi
# Relative, so the link resolves inside the tree here and at /app in the image alike.
ln -s ../../../app/bin/switchboard.js "$rootfs/usr/local/bin/switchboard"
cp "$root/config.example.yaml" "$rootfs/etc/switchboard/config.example.yaml"
sed -e 's|^listen_addr: .*|listen_addr: 0.0.0.0:8080|' "$root/config.example.yaml" > "$rootfs/etc/switchboard/config.yaml"
echo "$rootfs"
