#!/usr/bin/env bash
# Installs or removes msgpush on this machine (run as root; `make install`
# and `make uninstall` call it):
#   - the PHP extension, into the extension directory of the `php-config` in
#     PATH, enabled for every SAPI (cli, fpm, ...) with php-ext/msgpush.ini;
#   - msgpushd, into /usr/local/bin, with its systemd unit, its settings
#     /etc/msgpush/msgpushd.toml and its secrets /etc/default/msgpushd
#     (existing ones are kept).
#
#   install.sh install TARGET_DIR     (TARGET_DIR holds libmsgpush.so and msgpushd)
#   install.sh uninstall
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
ext_dir="$(php-config --extension-dir)"
php_version="$(php-config --version | cut -d. -f1,2)"
mods_available="/etc/php/$php_version/mods-available"
scan_dir="$(php -n --ini | sed -n 's/^Scan for additional .ini files in: //p')"
bin=/usr/local/bin/msgpushd
unit=/etc/systemd/system/msgpushd.service
settings=/etc/msgpush/msgpushd.toml
defaults=/etc/default/msgpushd

uses_phpenmod() { command -v phpenmod >/dev/null && [ -d "$mods_available" ]; }
has_systemd() { [ -d /run/systemd/system ]; }

install_all() {
  local target="${1:?directory with libmsgpush.so and msgpushd}"
  install -D -m 0644 "$target/libmsgpush.so" "$ext_dir/msgpush.so"
  echo "extension: $ext_dir/msgpush.so"
  if uses_phpenmod; then
    install -m 0644 "$here/php-ext/msgpush.ini" "$mods_available/msgpush.ini"
    phpenmod -v "$php_version" msgpush
    echo "enabled: $mods_available/msgpush.ini (phpenmod, every SAPI)"
  else
    install -D -m 0644 "$here/php-ext/msgpush.ini" "$scan_dir/20-msgpush.ini"
    echo "enabled: $scan_dir/20-msgpush.ini"
  fi
  install -D -m 0755 "$target/msgpushd" "$bin"
  install -D -m 0644 "$here/deploy/msgpushd.service" "$unit"
  [ -e "$settings" ] || install -D -m 0644 "$here/deploy/msgpushd.toml" "$settings"
  [ -e "$defaults" ] || install -D -m 0600 "$here/deploy/msgpushd.default" "$defaults"
  echo "daemon: $bin, unit $unit, settings $settings, secrets $defaults"
  if has_systemd; then
    systemctl daemon-reload
    echo "start it with: systemctl enable --now msgpushd"
  fi
  echo "restart php-fpm to load the extension there"
}

uninstall_all() {
  if has_systemd && systemctl list-unit-files msgpushd.service >/dev/null 2>&1; then
    systemctl disable --now msgpushd.service 2>/dev/null || true
  fi
  if uses_phpenmod && [ -f "$mods_available/msgpush.ini" ]; then
    phpdismod -v "$php_version" msgpush
    rm -f "$mods_available/msgpush.ini"
  fi
  rm -f "$scan_dir/20-msgpush.ini" "$ext_dir/msgpush.so" "$bin" "$unit" "$settings" "$defaults"
  rmdir /etc/msgpush 2>/dev/null || true
  if has_systemd; then systemctl daemon-reload; fi
  echo "msgpush removed"
}

case "${1:-}" in
install) install_all "${2:-}" ;;
uninstall) uninstall_all ;;
*) echo "usage: $0 install TARGET_DIR | uninstall" >&2; exit 2 ;;
esac
