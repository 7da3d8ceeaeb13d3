#!/usr/bin/env bash
# Installs msgpush's Debian packages into a throwaway Debian root (debootstrap,
# this machine's release; chroot), as a server without Rust would, checks them,
# and purges them. Nothing from the build tree is on the root's PATH.
#   install_debs.sh DEB_DIR CACHE_DIR WEB_PORT HTTP_PORT
# CACHE_DIR keeps the debootstrapped base between runs; each run works on a
# copy. Prints `name: value` lines for the test to check; exits non-zero on a
# failed step.
set -euo pipefail
debs="$(cd "${1:?deb directory}" && pwd)"
cache="${2:?cache directory}"
web_port="${3:?port}"
http_port="${4:?port}"
suite="$(. /etc/os-release && echo "$VERSION_CODENAME")"
mirror="$(apt-get indextargets --format '$(SITE) $(RELEASE) $(IDENTIFIER)' 2>/dev/null |
  awk -v r="$suite" '$2 == r && $3 == "Packages" { print $1; exit }')"
base="$cache/base-$suite"
if [ ! -e "$base/.complete" ]; then
  rm -rf "$base"
  debootstrap --variant=minbase "$suite" "$base" "${mirror:-http://deb.debian.org/debian}" >&2
  touch "$base/.complete"
fi
root="$cache/root-$$"
daemon=""
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  for m in proc dev/pts dev; do mountpoint -q "$root/$m" && umount -l "$root/$m"; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
cp -a "$base" "$root"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

php_package="$(cd "$debs" && ls php*-msgpush_*.deb | sed 's/_.*//')"
php_version="${php_package#php}"; php_version="${php_version%-msgpush}"
in_root apt-get update -q >&2
# PHP, and what the packages depend on (a minimal Debian 13 lacks adduser),
# so that the file listings below compare our packages' files alone.
in_root apt-get install -y -q --no-install-recommends "php$php_version-cli" adduser >&2
# Every file before our packages, to compare with after the purge.
snapshot() {
  in_root find / -xdev \( -path /proc -o -path /dev -o -path /run -o -path /tmp -o -path /var/cache \
    -o -path /var/log -o -path /var/lib/apt -o -path /var/lib/dpkg \) -prune -o -print |
    grep -v -- '-$' | sort   # (not the shadow tools' backups, /etc/shadow- ...)
}
snapshot > "$root.before"
mkdir -p "$root/tmp/debs"
cp "$debs"/*.deb "$root/tmp/debs/"
in_root sh -c 'apt-get install -y -q --no-install-recommends /tmp/debs/*.deb' >&2

echo "msgpushd --version: $(in_root msgpushd --version)"
echo "msgpushd path: $(in_root sh -c 'command -v msgpushd')"
in_root php --ri msgpush | sed -n 's/^version => /php --ri version: /p'
echo "phpversion: $(in_root php -r 'echo phpversion("msgpush");')"
echo "enabled for cli: $(in_root sh -c "readlink /etc/php/$php_version/cli/conf.d/20-msgpush.ini")"
echo "user: $(in_root getent passwd msgpush | cut -d: -f1,7)"
echo "state directory: $(in_root stat -c '%a %U' /var/lib/msgpush)"
in_root msgpushd --config /etc/msgpush/msgpushd.toml --check-config | sed -n 's/^socket = /check-config socket: /p'

# The packaged daemon, as its user, and a push from `php -r` to it. (Each
# program execs the next, so $! is the daemon's pid.)
chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setpriv --reuid=msgpush --regid=msgpush --init-groups \
  msgpushd --config /etc/msgpush/msgpushd.toml --socket /tmp/msgpushd.sock \
  --socket-group msgpush --socket-mode 666 --token-secret-file /tmp/token-secret \
  --listen "127.0.0.1:$web_port" --http-listen "127.0.0.1:$http_port" 2>"$root/tmp/msgpushd.log" &
daemon=$!
for _ in $(seq 100); do [ -S "$root/tmp/msgpushd.sock" ] && break; sleep 0.1; done
[ -S "$root/tmp/msgpushd.sock" ] || { cat "$root/tmp/msgpushd.log" >&2; exit 1; }
pushed="$(in_root php -d msgpush.socket=/tmp/msgpushd.sock -r 'echo (new MsgPush\PushEvent)->setUser("1")->setContent("hi")->push();')"
echo "push: $pushed"
token="$(in_root php -d msgpush.socket=/tmp/msgpushd.sock -r 'echo MsgPush\Auth::token("1");')"
echo "token parts: $(echo "$token" | tr '.' '\n' | wc -l)"
kill "$daemon"; wait "$daemon" || true
daemon=""

in_root apt-get purge -y -q msgpushd "$php_package" >&2
snapshot > "$root.after"
echo "left after purge: $(comm -13 "$root.before" "$root.after" | tr '\n' ' ')"
echo "user after purge: $(in_root getent passwd msgpush || true)"
rm -f "$root.before" "$root.after"
