#!/usr/bin/env bash
# Sets diswall up from a clone on Debian or Ubuntu (as root): the system tools it runs (apt-get), the
# npm packages (npm ci) and the build. Then, optionally:
#   scripts/setup.sh demo [FLAGS…]   runs `diswall demo` (a fleet in throwaway network namespaces)
#   scripts/setup.sh test            runs the whole test suite (npm test)
# Needs Node.js >= 20 with npm. Nothing here touches the firewall of the machine: the demo and the
# tests work inside network namespaces they create and remove.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (apt-get; the demo and the tests create network namespaces)" >&2
  exit 4
fi
if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'Number(process.versions.node.split(".")[0])')" -lt 20 ]; then
  echo "setup: Node.js >= 20 is needed (found: $(node --version 2>/dev/null || echo none))" >&2
  echo "       Debian 13 and Ubuntu 24.04 ship it (apt-get install nodejs npm); otherwise see https://nodejs.org" >&2
  exit 4
fi

export DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/sbin:/sbin"
need=()
for pair in ipset:ipset iptables:iptables nft:nftables ip:iproute2 ss:iproute2 conntrack:conntrack \
            nats-server:nats-server ping:iputils-ping tcpdump:tcpdump systemd-analyze:systemd script:bsdutils \
            g++:g++ make:make python3:python3; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi

echo "setup: node $(node --version), npm ci, build"
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent

case "${1:-}" in
  '') echo "setup: done. Next: ./bin/run.js demo, or npm test" ;;
  demo) shift; exec ./bin/run.js demo "$@" ;;
  test) exec npm test ;;
  *) echo "setup: unknown step '$1' (demo or test)" >&2; exit 2 ;;
esac
