# rustcache: build, test, install.
#
#   make install   build, install the module and the command, enable it on
#                  the hosts line of nsswitch.conf (idempotent), check it
#   make test      lints, unit tests, the glibc integration tests and the
#                  RPM tests (needs root: they run in private namespaces)
#   make bench     rustcache side by side with glibc's dns module, nscd,
#                  dnsmasq, unbound and a floor module (see bench/README.md)
#   make demo      a dead first nameserver, glibc alone and then rustcache,
#                  in a private namespace (root; under a minute)
#   make rpm       binary RPM for Amazon Linux 2023 from the working tree
#                  (RPM_REF=HEAD or a tag: from that commit); packaging/README.md
#   make fuzz      the fuzz targets in fuzz/, FUZZ_TIME seconds each (not
#                  part of `make test`)

CARGO    ?= cargo
PREFIX   ?= /usr/local
DESTDIR  ?=
NSSWITCH ?= $(DESTDIR)/etc/nsswitch.conf
# glibc finds NSS modules in the system library directory: the multiarch
# one on Debian, /usr/lib64 on Amazon Linux 2023.
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null)
LIBDIR   ?= $(if $(wildcard /usr/lib/$(MULTIARCH)/libc.so.6),/usr/lib/$(MULTIARCH),$(if $(wildcard /usr/lib64/libc.so.6),/usr/lib64,/usr/lib))

MODULE   := target/release/libnss_rustcache.so.2
CLI      := target/release/rustcache


.PHONY: all build test test-deps lint unit integration panic-probe rpm-test install uninstall bench demo rpm fuzz clean

all: build

build:
	$(CARGO) build --release --locked -p nss-rustcache -p rustcache-tool
	# Copy then rename: a running process that has the old file mapped
	# keeps it intact.
	cp -f target/release/libnss_rustcache.so $(MODULE).tmp
	mv -f $(MODULE).tmp $(MODULE)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps --workspace --quiet
	# The fuzz targets are their own workspace, which `make fuzz` alone built:
	# a change of the core's API broke one unnoticed (MapError::Busy, c65e100).
	$(CARGO) check --locked --manifest-path fuzz/Cargo.toml --bins --examples

unit:
	$(CARGO) test --locked --workspace --lib --bins

# The panic-probe build: the shipped release profile and link settings, plus
# a test-only name that panics deep in a lookup (tests/integration/panics.rs).
PANIC_DIR := target/panic-probe/release

panic-probe:
	$(CARGO) build --release --locked -p nss-rustcache --features panic-probe --target-dir target/panic-probe
	cp -f $(PANIC_DIR)/libnss_rustcache.so $(PANIC_DIR)/libnss_rustcache.so.2

# hot-order --check: the functions a fresh process's lookups run are still
# the ones hot.ld lays out first (a renamed or new one on that path would land
# elsewhere and cost a fresh process another 64 KiB window of code; the bench
# measured +64..+128 KiB RSS when it happened).
integration: build panic-probe
	$(CARGO) build --release --locked -p rustcache-testkit --bin scripted-dns
	nss-module/hot-order --check
	RUSTCACHE_MODULE_DIR=$(CURDIR)/target/release \
	RUSTCACHE_PANIC_MODULE_DIR=$(CURDIR)/$(PANIC_DIR) \
	    $(CARGO) test --locked --test integration

# Builds both RPMs (the policy module included) and checks them: files,
# scriptlets, the module's rules in the reference policy, rpmlint, a
# scratch-root install (packaging/test-rpm says more).
rpm-test:
	packaging/test-rpm

# Installs what the tests need first (tests/install-deps: Debian packages,
# only those missing), so that on a fresh machine this one command is all.
test: test-deps
	$(MAKE) lint unit rpm-test integration

test-deps:
	tests/install-deps
	rustup component add rustfmt clippy 2>/dev/null || true

install: build
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PREFIX)/bin
	install -m 0755 -s $(MODULE) $(DESTDIR)$(LIBDIR)/libnss_rustcache.so.2
	install -m 0755 -s $(CLI) $(DESTDIR)$(PREFIX)/bin/rustcache
	-[ -z "$(DESTDIR)" ] && ldconfig
	$(CLI) enable --nsswitch $(NSSWITCH)
	$(CLI) check
	@echo "installed: $(DESTDIR)$(LIBDIR)/libnss_rustcache.so.2"
	@getent ahosts localhost >/dev/null && echo "getent ahosts localhost: ok"

uninstall:
	-$(CLI) disable --nsswitch $(NSSWITCH)
	rm -f $(DESTDIR)$(LIBDIR)/libnss_rustcache.so.2 $(DESTDIR)$(PREFIX)/bin/rustcache

bench: build
	bench/install-deps
	$(CARGO) run --release --locked -p rustcache-testkit --bin rustcache-bench

# Touches nothing on the host: every process runs in a private network and
# mount namespace (see tests/testkit/src/bin/rustcache-demo).
demo: build
	RUSTCACHE_MODULE_DIR=$(CURDIR)/target/release $(CARGO) run --release --locked \
	  -p rustcache-testkit --bin rustcache-demo -- --cli $(CURDIR)/$(CLI)

RPM_TOPDIR ?= $(CURDIR)/target/rpmbuild
RPM_REF    ?=

rpm:
	RPM_TOPDIR=$(RPM_TOPDIR) packaging/build-rpm $(RPM_REF)

# cargo-fuzz with the stable toolchain: RUSTC_BOOTSTRAP=1 lets it pass the
# nightly-only sanitizer flags. Seeds are (re)written into fuzz/corpus,
# which grows there; crashes land in fuzz/artifacts/<target>/. Both are
# ignored by git. FUZZ_ARGS go to libFuzzer, e.g. "-fork=2 -ignore_crashes=1"
# to keep going after a crash.
FUZZ_TIME    ?= 60
FUZZ_TARGETS ?= reply cache_reader cache_torn
FUZZ_ARGS    ?=

fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	$(CARGO) run --quiet --locked --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus
	set -e; for t in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- -max_total_time=$(FUZZ_TIME) $(FUZZ_ARGS); \
	done

clean:
	$(CARGO) clean
