#!/usr/bin/env bash
# Installs or removes the msgpush PHP extension for the `php-config` in PATH.
#   install-extension.sh install path/to/libmsgpush.so
#   install-extension.sh uninstall
# On Debian/Ubuntu the ini goes to mods-available and is enabled with phpenmod
# for every SAPI (cli, fpm, apache2); elsewhere into PHP's scan directory.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
ext_dir="$(php-config --extension-dir)"
php_version="$(php-config --version | cut -d. -f1,2)"
mods_available="/etc/php/$php_version/mods-available"
scan_dir="$(php --ini | sed -n 's/^Scan for additional .ini files in: //p')"

case "${1:-}" in
install)
  so="${2:?path to libmsgpush.so}"
  install -D -m 0644 "$so" "$ext_dir/msgpush.so"
  echo "installed $ext_dir/msgpush.so"
  if command -v phpenmod >/dev/null && [ -d "$mods_available" ]; then
    install -m 0644 "$here/php-ext/msgpush.ini" "$mods_available/msgpush.ini"
    phpenmod -v "$php_version" msgpush
    echo "enabled with phpenmod ($mods_available/msgpush.ini)"
  else
    install -D -m 0644 "$here/php-ext/msgpush.ini" "$scan_dir/20-msgpush.ini"
    echo "enabled in $scan_dir/20-msgpush.ini"
  fi
  echo "restart php-fpm to load it there: systemctl restart php$php_version-fpm"
  ;;
uninstall)
  if command -v phpdismod >/dev/null && [ -f "$mods_available/msgpush.ini" ]; then
    phpdismod -v "$php_version" msgpush
    rm -f "$mods_available/msgpush.ini"
  fi
  rm -f "$scan_dir/20-msgpush.ini" "$ext_dir/msgpush.so"
  echo "removed msgpush"
  ;;
*)
  echo "usage: $0 install path/to/libmsgpush.so | uninstall" >&2
  exit 2
  ;;
esac
