#!/usr/bin/env bash
# Installs the real syslog servers the rfc5424 exporter's tests talk to
# (internal/testkit/syslogtest): rsyslog with its TLS driver and RELP
# input, and syslog-ng.
#
# Run as root on Debian. syslog-ng conflicts with rsyslog as a package, so it
# is not installed: its .deb is downloaded and unpacked into
# .tools/syslog-ng (gitignored), where internal/testkit/syslogtest looks for it, and
# only its shared-library dependencies (which conflict with nothing) are
# installed with apt. Running it again is cheap and changes nothing.
#
# Usage: bash .ci/install-syslog-servers.sh   (from anywhere in the repo)
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

dest=.tools/syslog-ng
sng_pkg=syslog-ng-core

need_update=1
apt_update() {
	if [ "$need_update" = 1 ]; then
		apt-get update -qq
		need_update=0
	fi
}

# liblognorm-utils: lognormalizer, whose CEF parser reads back what the
# rfc5424 exporter's format: cef sends. rsyslog-relp: imrelp, the RELP
# input the rfc5424 exporter's relp transport is tested against.
if ! dpkg -s rsyslog rsyslog-gnutls liblognorm-utils rsyslog-relp >/dev/null 2>&1; then
	apt_update
	apt-get install -y -qq --no-install-recommends rsyslog rsyslog-gnutls liblognorm-utils rsyslog-relp >/dev/null
fi
# The tests start rsyslogd themselves; a packaged one running as a service
# would only compete for CPU on a CI machine.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now rsyslog.service >/dev/null 2>&1 || true
fi

if [ -x "$dest/usr/sbin/syslog-ng" ] && [ -f "$dest/.installed" ] &&
	LD_LIBRARY_PATH="$dest/usr/lib/syslog-ng" "$dest/usr/sbin/syslog-ng" --version >/dev/null 2>&1; then
	echo "syslog-ng: already in $dest ($(cat "$dest/.installed"))"
	exit 0
fi

apt_update
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$sng_pkg")
deb=$(ls "$tmp"/"$sng_pkg"_*.deb)

# Its Depends line, minus version constraints; of each alternative
# (a | b) the first is taken. sysvinit-utils/lsb-base are for the init
# script, which is not used.
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g' |
	grep -v -e '^$' -e '^sysvinit-utils$' -e '^lsb-base$' | sort -u | tr '\n' ' ')
# shellcheck disable=SC2086 # word splitting is the point
apt-get install -y -qq --no-install-recommends $deps >/dev/null

rm -rf "$dest"
mkdir -p "$dest"
dpkg -x "$deb" "$dest"
dpkg-deb -f "$deb" Version >"$dest/.installed"
LD_LIBRARY_PATH="$dest/usr/lib/syslog-ng" "$dest/usr/sbin/syslog-ng" --version | head -1
echo "syslog-ng: unpacked into $dest"
