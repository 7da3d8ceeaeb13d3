#!/usr/bin/env bash
# Prebuilt archives of a release build (`make dist` runs it), with checksums:
#   php_msgpush-VERSION_phpMAJ.MIN-ARCH-linux-LIBC-TS.tgz   the extension
#     (msgpush.so at the root, as PIE looks for a pre-packaged binary), for
#     the PHP `php-config` names;
#   msgpushd-VERSION-ARCH-linux.tgz   the daemon, its unit and settings files;
#   SHA256SUMS.
#
#   dist.sh TARGET_DIR OUT_DIR     (TARGET_DIR holds msgpushd and libmsgpush.so)
set -euo pipefail
. "$(dirname "$0")/release-build.sh"
arch="$(uname -m)"
php="$(php-config --php-binary)"
ts="$("$php" -n -r 'echo PHP_ZTS ? "zts" : "nts";')"
libc=glibc
if ldd --version 2>&1 | grep -qi musl; then libc=musl; fi

ext="php_msgpush-${version}_php${php_version}-${arch}-linux-${libc}-${ts}.tgz"
install -m 0644 "$target/libmsgpush.so" "$work/msgpush.so"
strip --strip-unneeded "$work/msgpush.so"
install -m 0644 "$here/php-ext/msgpush.ini" "$here/LICENSE" "$work/"
tar -C "$work" --owner=0 --group=0 -czf "$out/$ext" msgpush.so msgpush.ini LICENSE

daemon="msgpushd-${version}-${arch}-linux"
install -d "$work/$daemon"
install -m 0755 "$target/msgpushd" "$work/$daemon/msgpushd"
strip --strip-unneeded "$work/$daemon/msgpushd"
install -m 0644 "$here/deploy/msgpushd.service" "$here/deploy/msgpushd.toml" "$here/deploy/msgpushd.default" \
  "$here/LICENSE" "$here/CHANGELOG.md" "$work/$daemon/"
tar -C "$work" --owner=0 --group=0 -czf "$out/$daemon.tgz" "$daemon"

(cd "$out" && sha256sum "$ext" "$daemon.tgz" > SHA256SUMS)
ls "$out"/*.tgz "$out/SHA256SUMS"
