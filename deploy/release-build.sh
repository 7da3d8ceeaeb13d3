# Sourced by deb.sh and dist.sh: their two arguments, and what both need to
# know of the release build they package.
#   TARGET_DIR OUT_DIR     (TARGET_DIR holds msgpushd and libmsgpush.so)
# Sets: here (the repository), target, out (created), version (the
# project's, from the binary), php_version (X.Y of the PHP php-config names),
# work (a scratch directory, removed at exit).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$(cd "${1:?directory with msgpushd and libmsgpush.so}" && pwd)"
out="${2:?output directory}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
version="$("$target/msgpushd" --version | cut -d' ' -f2)"
php_version="$(php-config --version | cut -d. -f1,2)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
