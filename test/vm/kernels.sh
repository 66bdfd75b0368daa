#!/usr/bin/env bash
# Debian kernel packages for the kernel matrix, fetched with `apt-get download`, unpacked once and
# kept in a cache that outlives the checkout; a later run fetches nothing.
#
#   bash test/vm/kernels.sh [SLOT...]       SLOT: 6.1 6.12 5.10 (default: all three)
#
# One line per slot on stdout: SLOT <tab> DIR <tab> cached|fetched. DIR holds boot/vmlinuz-KVER,
# boot/vmlinux-KVER (the uncompressed ELF qemu boots directly through PVH, when it could be
# extracted), lib/modules/KVER with modules.dep, and a file `release` with KVER.
#
#   6.1   the package bookworm's linux-image-amd64 depends on          (this machine's apt sources)
#   6.12  the package linux-image-6.12-amd64 depends on (bookworm-security; this machine's apt sources)
#   5.10  the package bullseye-security's linux-image-amd64 depends on (a private apt configuration
#         under the cache: its own sources list, lists and package cache; the machine's apt
#         sources are never changed)
#
# Environment: ECO_VM_CACHE (default /var/cache/ebpf-container-otel/vm), ECO_VM_SECURITY_MIRROR
# (default http://deb.debian.org/debian-security).
set -euo pipefail

CACHE=${ECO_VM_CACHE:-/var/cache/ebpf-container-otel/vm}
SECURITY_MIRROR=${ECO_VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { printf 'kernels: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ $# -gt 0 ] || set -- 6.1 6.12 5.10
mkdir -p "$CACHE/kernels" "$CACHE/download"
# One fetcher at a time per cache (two matrix runs on one machine share it).
exec 9>"$CACHE/.kernels.lock"
flock 9

# apt as root downloads unsandboxed; say so instead of warning about the _apt user each time.
APT_COMMON=(-o APT::Sandbox::User=root -o Acquire::Languages=none)

# The private configuration for bullseye-security: sources, preferences, lists, package cache and
# the (empty) dpkg status apt resolves against all live under the cache.
PRIVATE=$CACHE/apt-bullseye-security
APT_PRIVATE=(
  -o Dir::Etc::SourceList="$PRIVATE/sources.list"
  -o Dir::Etc::SourceParts="$PRIVATE/sources.list.d"
  -o Dir::Etc::Preferences="$PRIVATE/preferences"
  -o Dir::Etc::PreferencesParts="$PRIVATE/preferences.d"
  -o Dir::State::Lists="$PRIVATE/lists"
  -o Dir::State::extended_states="$PRIVATE/extended_states"
  -o Dir::State::status="$PRIVATE/status"
  -o Dir::Cache="$PRIVATE/cache"
  -o APT::Architecture=amd64
)
private_apt_setup() {
  mkdir -p "$PRIVATE/lists/partial" "$PRIVATE/cache/archives/partial" "$PRIVATE/sources.list.d" "$PRIVATE/preferences.d"
  : > "$PRIVATE/preferences"
  : > "$PRIVATE/status"   # no installed packages: the candidates are the archive's
  local want="deb [signed-by=$KEYRING] $SECURITY_MIRROR bullseye-security main"
  if [ "$(cat "$PRIVATE/sources.list" 2>/dev/null)" != "$want" ]; then
    printf '%s\n' "$want" > "$PRIVATE/sources.list"
    rm -f "$PRIVATE/lists/"*_Packages* "$PRIVATE/lists/"*Release*
  fi
}

# apt-get update with retries (a mirror that briefly fails to resolve is a passing fault).
apt_update() {
  local attempt
  for attempt in 1 2 3 4 5; do
    if apt-get "${APT_COMMON[@]}" "$@" -qq update >&2; then return 0; fi
    log "apt-get update failed (attempt $attempt), retrying in $((attempt * 5))s"
    sleep $((attempt * 5))
  done
  return 1
}

# The kernel image package a metapackage depends on, and its version: "NAME VERSION".
resolve() { # metapackage apt-options...
  local meta=$1 dep version
  shift
  dep=$(apt-cache "${APT_COMMON[@]}" "$@" show --no-all-versions "$meta" 2>/dev/null |
    sed -n 's/^Depends: //p' | tr ',|' '\n\n' | sed 's/^ *//; s/ .*//' | grep -m1 '^linux-image-[0-9]') || return 1
  version=$(apt-cache "${APT_COMMON[@]}" "$@" show --no-all-versions "$dep" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
  [ -n "$version" ] || return 1
  echo "$dep $version"
}

# Resolves, updating the lists once when they do not know the package (fresh machine, new suite).
resolve_or_update() { # metapackage apt-options...
  local meta=$1
  shift
  resolve "$meta" "$@" && return 0
  log "apt lists do not know $meta yet: apt-get update"
  apt_update "$@" || return 1
  resolve "$meta" "$@"
}

# Uncompressed vmlinux from a bzImage: find the payload by its compression magic, decompress, keep
# it if it is an ELF. Debian compresses 5.10 and 6.1 with xz, 6.12 with zstd.
extract_vmlinux() { # vmlinuz out
  local image=$1 out=$2 spec tool magic off
  for spec in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08'; do
    tool=${spec%%:*}
    magic=${spec#*:}
    for off in $(LC_ALL=C grep -obUaP "$magic" "$image" 2>/dev/null | cut -d: -f1 | head -n 4); do
      tail -c +$((off + 1)) "$image" | "$tool" -dc > "$out.tmp" 2>/dev/null || true
      if [ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
        mv "$out.tmp" "$out"
        return 0
      fi
    done
  done
  rm -f "$out.tmp"
  return 1
}

# Downloads, unpacks and prepares one kernel package into the cache (once).
fetch() { # name version apt-options...
  local name=$1 version=$2 dir deb kver work
  shift 2
  dir=$CACHE/kernels/${name}_${version}
  if [ -f "$dir/release" ]; then
    echo "$dir cached"
    return 0
  fi
  log "fetching $name $version"
  rm -rf "$CACHE/download/"*
  (cd "$CACHE/download" && apt-get "${APT_COMMON[@]}" "$@" -qq download "$name=$version" >&2) || die "apt-get download $name=$version failed"
  deb=$(ls "$CACHE/download/"*.deb 2>/dev/null | head -n1)
  [ -n "$deb" ] || die "apt-get download $name=$version left no .deb"
  work=$dir.tmp
  rm -rf "$work"
  dpkg-deb -x "$deb" "$work"
  kver=$(ls "$work/lib/modules" | head -n1)
  [ -n "$kver" ] && [ -f "$work/boot/vmlinuz-$kver" ] || die "$deb has no boot/vmlinuz and lib/modules"
  # modules.dep is the package's postinst's job; modprobe in the guest and the initramfs need it.
  depmod -b "$work" "$kver"
  extract_vmlinux "$work/boot/vmlinuz-$kver" "$work/boot/vmlinux-$kver" || log "no vmlinux extracted from $name: the guest boots vmlinuz (slower)"
  echo "$kver" > "$work/release"
  rm -rf "$dir"
  mv "$work" "$dir"
  rm -f "$deb"
  echo "$dir fetched"
}

for tool in apt-get apt-cache dpkg-deb depmod xz zstd; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup.sh --test --kernels"
done

for slot in "$@"; do
  case $slot in
  6.1) resolved=$(resolve_or_update linux-image-amd64) || die "cannot resolve linux-image-amd64 with this machine's apt sources (bookworm)" ;;
  6.12) resolved=$(resolve_or_update linux-image-6.12-amd64) || die "cannot resolve linux-image-6.12-amd64 with this machine's apt sources (needs bookworm-security)" ;;
  5.10)
    private_apt_setup
    resolved=$(resolve_or_update linux-image-amd64 "${APT_PRIVATE[@]}") || die "cannot resolve linux-image-amd64 from bullseye-security ($SECURITY_MIRROR)"
    ;;
  *) die "unknown slot $slot (6.1, 6.12, 5.10)" ;;
  esac
  read -r name version <<< "$resolved"
  case $slot in
  5.10) out=$(fetch "$name" "$version" "${APT_PRIVATE[@]}") ;;
  *) out=$(fetch "$name" "$version") ;;
  esac
  read -r dir how <<< "$out"
  case $(cat "$dir/release") in
  "$slot".*) ;;
  *) die "slot $slot resolved to $name, kernel $(cat "$dir/release")" ;;
  esac
  printf '%s\t%s\t%s\n' "$slot" "$dir" "$how"
done
