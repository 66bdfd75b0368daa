#!/usr/bin/env bash
# Builds the agent image ebpf-container-otel:<version> and :latest from ./Dockerfile.
#
#   scripts/image.sh [--podman] [--save] [--no-cache]     (npm run image -- …)
#
# Engine: Docker (DOCKER_HOST, else /var/run/docker.sock); when no Docker engine answers, a
# private dockerd run for this build only, with its data root (and so its layer cache and the
# image) kept in the cache directory. --podman builds with Podman instead.
# Base images: debian:bookworm and debian:bookworm-slim are taken from the engine, else pulled,
# else made from Debian's mirror with debootstrap (cached) and imported — so the Dockerfile is
# the standard one and builds unchanged wherever a registry is reachable.
# The host's CA bundle goes into the build stage (npm behind a TLS-inspecting proxy).
# --save also writes the image to $CACHE/images/ebpf-container-otel-<version>-<inputs>.tar
# (docker save format; tests load it into their own engines); always with the private dockerd.
# The image carries the hash of its inputs (label io.ebpf-container-otel.inputs): an image or
# archive of the same inputs is reused, so a second run takes a second or two.
# The last line of output is machine-readable:
#   image <name>:<version> id <id> inputs <hash> size <bytes> [tar <path>]
#
# Cache: $EBPF_OTEL_CACHE, default /var/cache/ebpf-container-otel (root) or ~/.cache/ebpf-container-otel.
set -euo pipefail
cd "$(dirname "$0")/.."

engine=docker
save=0
no_cache=()
for arg in "$@"; do
  case "$arg" in
    --podman) engine=podman ;;
    --save) save=1 ;;
    --no-cache) no_cache=(--no-cache) ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "image: unknown option $arg (see --help)" >&2; exit 64 ;;
  esac
done

log() { printf 'image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

if [ "$(id -u)" -eq 0 ]; then default_cache=/var/cache/ebpf-container-otel; else default_cache="${XDG_CACHE_HOME:-$HOME/.cache}/ebpf-container-otel"; fi
CACHE="${EBPF_OTEL_CACHE:-$default_cache}"
mkdir -p "$CACHE/bases" "$CACHE/images"

NAME=ebpf-container-otel
VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json | head -1)
[ -n "$VERSION" ] || die "no version in package.json"
BASES=(debian:bookworm debian:bookworm-slim)
# The build context: what the Dockerfile copies (.dockerignore says the same for `docker build .`).
CONTEXT=(Dockerfile .dockerignore package.json package-lock.json binding.gyp tsconfig.json bin config native proto src)
CA_BUNDLE=""
for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  [ -f "$f" ] && { CA_BUNDLE=$f; break; }
done

# What the image is made of: every context file, the CA bundle, the engine kind. Same inputs, same image.
inputs_hash() {
  {
    find "${CONTEXT[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    [ -n "$CA_BUNDLE" ] && sha256sum <"$CA_BUNDLE"
    echo "$engine"
  } | sha256sum | cut -c1-16
}
INPUTS=$(inputs_hash)
TAR="$CACHE/images/$NAME-$VERSION-$INPUTS.tar"

report() { # id size
  local line="image $NAME:$VERSION id $1 inputs $INPUTS size $2"
  [ "$save" = 1 ] && line+=" tar $TAR"
  echo "$line"
}

# A tar of these inputs exists: nothing to build (no engine needed).
if [ "$save" = 1 ] && [ -s "$TAR" ] && [ -s "$TAR.meta" ]; then
  log "up to date: $TAR"
  report $(cat "$TAR.meta")
  exit 0
fi

# ---- the daemon-test lock (see test/harness/README.md): a private dockerd is one of those daemons ----
LOCK=/tmp/daemon-tests.lock
lock_held_by_us() {
  [ -n "${EBPF_OTEL_DAEMON_LOCK_HELD:-}" ] && return 0
  [ -e "$LOCK" ] || return 1
  local ino pids p
  ino=$(stat -c %i "$LOCK")
  pids=$(awk -v i=":$ino" '$2=="FLOCK" && index($6, i) && substr($6, length($6)-length(i)+1)==i {print $5}' /proc/locks 2>/dev/null)
  [ -n "$pids" ] || return 1
  # Held by one of our ancestors (flock … npm run image): it is ours.
  p=$$
  while [ "$p" -gt 1 ]; do
    for h in $pids; do [ "$h" = "$p" ] && return 0; done
    p=$(parent_of "$p")
  done
  return 1
}
# The parent pid from /proc/<pid>/stat: the field after the command name, which may hold spaces
# and parentheses ("(npm run image)"), so counted from the last ')'.
parent_of() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 1; return; }
  rest=${stat##*) }
  set -- $rest
  echo "${2:-1}"
}
take_lock() {
  lock_held_by_us && return 0
  exec 9>>"$LOCK"
  if ! flock -n 9; then
    log "waiting for $LOCK (another engineer's daemon tests are running)"
    flock 9
  fi
  export EBPF_OTEL_DAEMON_LOCK_HELD=1
}

# ---- engine ----
PRIVATE_PID=""
cleanup() {
  if [ -n "$PRIVATE_PID" ] && kill -0 "$PRIVATE_PID" 2>/dev/null; then
    kill -TERM "$PRIVATE_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PRIVATE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PRIVATE_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

ENGINE=()
if [ "$engine" = podman ]; then
  command -v podman >/dev/null || die "podman is not installed (apt-get install podman)"
  ENGINE=(podman)
  podman info >/dev/null 2>&1 || die "podman does not work here: $(podman info 2>&1 | tail -1)"
  ENGINE_DESC="podman"
else
  command -v docker >/dev/null || die "docker is not installed (apt-get install docker.io)"
  export DOCKER_BUILDKIT=0 # the classic builder: no buildx plugin needed, uses local base images as they are
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    ENGINE=(docker)
    ENGINE_DESC="the Docker engine at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
  else
    [ "$(id -u)" -eq 0 ] || die "no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}, and starting one needs root"
    command -v dockerd >/dev/null || die "no Docker engine answers and dockerd is not installed (apt-get install docker.io)"
    take_lock
    ENGINE_DIR="$CACHE/dockerd"
    RUN_DIR=/run/ebpf-container-otel-image
    mkdir -p "$ENGINE_DIR/data" "$RUN_DIR"
    SOCK="$RUN_DIR/docker.sock"
    log "no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}: starting a private dockerd for this build (data root $ENGINE_DIR/data, socket $SOCK)"
    echo '{}' >"$ENGINE_DIR/daemon.json"
    dockerd --config-file "$ENGINE_DIR/daemon.json" --data-root "$ENGINE_DIR/data" --exec-root "$RUN_DIR/exec" \
      --pidfile "$RUN_DIR/docker.pid" -H "unix://$SOCK" --bridge=none --iptables=false --ip-masq=false --ip6tables=false \
      --oom-score-adjust=0 --log-level=warn >"$ENGINE_DIR/dockerd.log" 2>&1 &
    PRIVATE_PID=$!
    export DOCKER_HOST="unix://$SOCK"
    for _ in $(seq 1 300); do
      docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
      kill -0 "$PRIVATE_PID" 2>/dev/null || die "dockerd exited: $(tail -5 "$ENGINE_DIR/dockerd.log")"
      sleep 0.2
    done
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "dockerd did not answer within 60 s: $(tail -5 "$ENGINE_DIR/dockerd.log")"
    ENGINE=(docker)
    ENGINE_DESC="a private dockerd (DOCKER_HOST=unix://$SOCK while it runs; data root $ENGINE_DIR/data)"
    # It stops with this script: the archive is how the image leaves it (docker load -i / podman load -i).
    save=1
  fi
fi
E() { "${ENGINE[@]}" "$@"; }

image_label() { E image inspect --format '{{ index .Config.Labels "io.ebpf-container-otel.inputs" }}' "$1" 2>/dev/null || true; }
image_size() { E image inspect --format '{{.Size}}' "$1"; }
image_id() { E image inspect --format '{{.Id}}' "$1"; }

save_tar() {
  [ "$save" = 1 ] || return 0
  [ -s "$TAR" ] && [ -s "$TAR.meta" ] && return 0
  log "saving to $TAR"
  E save -o "$TAR.tmp" "$NAME:$VERSION" "$NAME:latest"
  chmod 644 "$TAR.tmp"
  echo "$(image_id "$NAME:$VERSION") $(image_size "$NAME:$VERSION")" >"$TAR.meta"
  mv "$TAR.tmp" "$TAR"
  # Older tars are of inputs that no longer exist.
  find "$CACHE/images" -name "$NAME-*.tar*" ! -name "$(basename "$TAR")*" -delete
}

if [ "$(image_label "$NAME:$VERSION")" = "$INPUTS" ]; then
  log "up to date in $ENGINE_DESC: $NAME:$VERSION (inputs $INPUTS)"
  E tag "$NAME:$VERSION" "$NAME:latest"
  save_tar
  report "$(image_id "$NAME:$VERSION")" "$(image_size "$NAME:$VERSION")"
  exit 0
fi

# ---- base images ----
MIRROR=$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/*$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

# debootstrap --variant=minbase bookworm, once; then two tars: the full base and a trimmed -slim
# (no docs, man pages or locales, as Debian's own slim images).
make_base_tars() {
  local full="$CACHE/bases/bookworm.tar" slim="$CACHE/bases/bookworm-slim.tar"
  [ -s "$full" ] && [ -s "$slim" ] && return 0
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  local root
  root=$(mktemp -d "$CACHE/bases/rootfs.XXXXXX")
  log "debootstrap --variant=minbase bookworm from $MIRROR (once; cached in $CACHE/bases)"
  local attempt
  for attempt in 1 2 3 4 5; do
    debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$CACHE/bases/debootstrap.log" 2>&1 && break
    [ "$attempt" = 5 ] && die "debootstrap failed: $(tail -5 "$CACHE/bases/debootstrap.log")"
    log "debootstrap failed (attempt $attempt), retrying in $((attempt * 5))s"
    rm -rf "$root"; mkdir -p "$root"; sleep $((attempt * 5))
  done
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # As Debian's images: no apt caches in layers, no recommends.
  printf 'APT::Install-Recommends "false";\n' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
  printf 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\nAPT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\nDir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n' >"$root/etc/apt/apt.conf.d/docker-clean"
  rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/*
  : >"$root/etc/hostname"
  tar --numeric-owner -C "$root" --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* -cf "$full.tmp" .
  mv "$full.tmp" "$full"
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/groff/* "$root"/usr/share/info/* "$root"/usr/share/lintian/* "$root"/usr/share/locale/*
  tar --numeric-owner -C "$root" --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* -cf "$slim.tmp" .
  mv "$slim.tmp" "$slim"
  rm -rf "$root"
}

for base in "${BASES[@]}"; do
  E image inspect "$base" >/dev/null 2>&1 && continue
  log "$base: not in the engine, pulling"
  if timeout 60 "${ENGINE[@]}" pull "$base" >/dev/null 2>&1; then continue; fi
  log "$base: cannot be pulled (no registry reachable): importing a debootstrap'd one"
  make_base_tars
  tag=${base#debian:}
  E import --change 'CMD ["bash"]' "$CACHE/bases/$tag.tar" "$base" >/dev/null
done

# ---- build ----
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"; cleanup' EXIT
tar -cf - "${CONTEXT[@]}" | tar -C "$ctx" -xf -
mkdir -p "$ctx/build-ca"
[ -n "$CA_BUNDLE" ] && cp "$CA_BUNDLE" "$ctx/build-ca/host-ca-bundle.crt"

log "building $NAME:$VERSION with $ENGINE_DESC"
engine_build=()
if [ "$engine" = podman ]; then
  # crun refuses hybrid cgroup v1/v2 hosts; runc works on every layout. Build steps' processes stay
  # under a modest nproc limit (hosts without CAP_SYS_RESOURCE cannot raise the hard one).
  command -v runc >/dev/null && engine_build+=(--runtime runc)
  engine_build+=(--ulimit "nproc=4096:4096")
fi
start=$(date +%s)
E build --network host "${engine_build[@]}" "${no_cache[@]}" --label "io.ebpf-container-otel.inputs=$INPUTS" \
  -t "$NAME:$VERSION" -t "$NAME:latest" -f "$ctx/Dockerfile" "$ctx"
secs=$(( $(date +%s) - start ))
# In our private engine only: untagged images made before this build (earlier builds' stages)
# go with their own layers; the layers this build used, its cache, stay.
[ -n "$PRIVATE_PID" ] && { E image prune -f --filter "until=$start" >/dev/null 2>&1 || true; }
size=$(image_size "$NAME:$VERSION")
log "built $NAME:$VERSION in ${secs}s: $(( size / 1000000 )) MB"
save_tar
report "$(image_id "$NAME:$VERSION")" "$size"
