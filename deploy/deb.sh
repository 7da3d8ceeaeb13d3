#!/usr/bin/env bash
# Builds msgpush's Debian packages from a release build (`make deb` runs it):
#   - msgpushd: the daemon, its systemd unit, its settings as conffiles, its
#     system user created on install (removed on purge);
#   - phpX.Y-msgpush: the extension for the PHP that `php-config` names, its
#     ini enabled for every SAPI, depending on that PHP's API (phpapi-N).
# Each package's Depends on shared libraries is computed from its binary by
# dpkg-shlibdeps.
#
#   deb.sh TARGET_DIR OUT_DIR     (TARGET_DIR holds msgpushd and libmsgpush.so)
set -euo pipefail
. "$(dirname "$0")/release-build.sh"
arch="$(dpkg --print-architecture)"
php_api="$(php-config --phpapi)"
ext_dir="$(php-config --extension-dir)"
maintainer="msgpush <msgpush@users.noreply.github.com>"
homepage="https://github.com/msgpush/msgpush"

# The shared-library Depends of ELF file $1 (dpkg-shlibdeps wants a debian/control).
shlib_depends() {
  local dir
  dir="$(mktemp -d "$work/shlibs.XXXXXX")"
  mkdir "$dir/debian" && touch "$dir/debian/control"
  (cd "$dir" && dpkg-shlibdeps -O "$1") | sed -n 's/^shlibs:Depends=//p'
}

# The copyright file every package carries.
copyright() {
  install -d "$1/usr/share/doc/$2"
  {
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: msgpush"
    echo "Source: $homepage"
    echo
    echo "Files: *"
    echo "Copyright: the msgpush contributors"
    echo "License: MIT"
    sed 's/^$/./; s/^/ /' "$here/LICENSE"
  } > "$1/usr/share/doc/$2/copyright"
  gzip -9n < "$here/CHANGELOG.md" > "$1/usr/share/doc/$2/changelog.gz"
}

# Writes DEBIAN/control for package root $1, then builds it into $out.
build() {
  local root=$1 package=$2 depends=$3 section=$4 description=$5 extra=$6
  {
    echo "Package: $package"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
    echo "Depends: $depends"
    [ -z "$extra" ] || echo "$extra"
    echo "Section: $section"
    echo "Priority: optional"
    echo "Homepage: $homepage"
    echo "Description: $description"
  } > "$root/DEBIAN/control"
  dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${package}_${version}_${arch}.deb" >/dev/null
  echo "$out/${package}_${version}_${arch}.deb"
}

# --- msgpushd ---
d="$work/msgpushd"
install -d "$d/DEBIAN"
install -D -m 0755 "$target/msgpushd" "$d/usr/bin/msgpushd"
strip --strip-unneeded "$d/usr/bin/msgpushd"
# The package's unit runs as the system user postinst creates.
sed -e 's#/usr/local/bin/msgpushd#/usr/bin/msgpushd#' -e '/^DynamicUser=yes$/d' \
  "$here/deploy/msgpushd.service" > "$work/msgpushd.service"
grep -q '^User=msgpush$' "$work/msgpushd.service"
install -D -m 0644 "$work/msgpushd.service" "$d/usr/lib/systemd/system/msgpushd.service"
install -D -m 0644 "$here/deploy/msgpushd.toml" "$d/etc/msgpush/msgpushd.toml"
install -D -m 0600 "$here/deploy/msgpushd.default" "$d/etc/default/msgpushd"
copyright "$d" msgpushd
printf '/etc/msgpush/msgpushd.toml\n/etc/default/msgpushd\n' > "$d/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "$here/deploy/debian/msgpushd.$script" "$d/DEBIAN/$script"
done
build "$d" msgpushd "adduser, $(shlib_depends "$d/usr/bin/msgpushd")" net \
  "real-time push to browsers for PHP applications
 msgpushd serves Socket.IO (2.x and 4.x clients) to browsers and takes
 pushes from PHP (the msgpush extension, over a Unix socket) or from
 web-msg-sender's HTTP API, and emits them to the logged-in user's tabs.
 Several daemons form a cluster on Redis." \
  "Suggests: php-msgpush, redis-server"

# --- phpX.Y-msgpush ---
package="php${php_version}-msgpush"
p="$work/php"
install -d "$p/DEBIAN"
install -D -m 0644 "$target/libmsgpush.so" "$p$ext_dir/msgpush.so"
strip --strip-unneeded "$p$ext_dir/msgpush.so"
{ echo "; priority=20"; cat "$here/php-ext/msgpush.ini"; } > "$work/msgpush.ini"
install -D -m 0644 "$work/msgpush.ini" "$p/etc/php/$php_version/mods-available/msgpush.ini"
copyright "$p" "$package"
echo "/etc/php/$php_version/mods-available/msgpush.ini" > "$p/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  sed "s/@PHP_VERSION@/$php_version/g; s/phpVERSION/php$php_version/g" \
    "$here/deploy/debian/php-msgpush.$script" > "$p/DEBIAN/$script"
  chmod 0755 "$p/DEBIAN/$script"
done
build "$p" "$package" "phpapi-$php_api, php-common, $(shlib_depends "$p$ext_dir/msgpush.so")" php \
  "msgpush extension for PHP $php_version: push to browsers through msgpushd
 MsgPush\\PushEvent pushes a message to a user's open browser tabs through
 msgpushd, over a persistent Unix-socket connection per PHP process, with a
 fire-and-forget queue; MsgPush\\Auth mints the browsers' login tokens." \
  "Provides: php-msgpush
Recommends: msgpushd"
