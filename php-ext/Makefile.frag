
# msgpush has no C sources for phpize's rules: cargo builds the extension
# (for the PHP that --with-php-config names) into modules/, where
# `make install` takes it from. CARGO_TARGET_DIR may point at an existing
# build directory. (phpize rewrites $(srcdir) in fragments: $(top_srcdir)
# is this directory.)
CARGO_TARGET_DIR ?= $(top_srcdir)/../target

all: modules/msgpush.so
build-modules: modules/msgpush.so

.PHONY: modules/msgpush.so
modules/msgpush.so:
	cd $(top_srcdir) && PHP_CONFIG="$(MSGPUSH_PHP_CONFIG)" CARGO_TARGET_DIR="$(CARGO_TARGET_DIR)" $(CARGO) build --release --locked -p msgpush
	$(mkinstalldirs) modules
	cp "$(CARGO_TARGET_DIR)/release/libmsgpush.so" $@
