#!/usr/bin/env bash
# Installs what building and testing need (Debian): libpcap-dev for the CPcap system library, tcpdump for
# live-capture tests. Does nothing when they are present; uses sudo when not root.
set -euo pipefail
need=()
[ -f /usr/include/pcap/pcap.h ] || need+=(libpcap-dev)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y "${need[@]}"
fi
