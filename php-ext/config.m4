dnl The msgpush extension for phpize (and PIE, which runs phpize):
dnl   phpize && ./configure && make && make install
dnl msgpush is written in Rust: `make` builds it with cargo (Rust 1.94 or
dnl later, and libclang for the bindings to PHP's headers). Servers without
dnl Rust install the Debian package or a prebuilt archive instead
dnl (docs/install.md).

PHP_ARG_ENABLE([msgpush],
  [whether to enable msgpush],
  [AS_HELP_STRING([--enable-msgpush], [Enable msgpush (built with cargo)])],
  [yes])

if test "$PHP_MSGPUSH" != "no"; then
  AC_PATH_PROG([CARGO], [cargo], [no], [$PATH:$HOME/.cargo/bin])
  if test "$CARGO" = "no"; then
    AC_MSG_ERROR([cargo not found: msgpush is written in Rust and builds with cargo (https://rustup.rs); without Rust, install the Debian package or a prebuilt archive (docs/install.md)])
  fi
  PHP_SUBST([CARGO])
  dnl ext-php-rs wants php-config as a path.
  MSGPUSH_PHP_CONFIG=`command -v "$PHP_CONFIG"`
  PHP_SUBST([MSGPUSH_PHP_CONFIG])
  PHP_ADD_MAKEFILE_FRAGMENT([$abs_srcdir/Makefile.frag])
fi
