#!/usr/bin/env bash
# Install Debian's Chromium for `make browser-test` (Playwright drives it; its own browser
# download cannot work offline). Usage: tools/install_chromium.sh [/usr/bin/chromium]
set -euo pipefail
want="${1:-/usr/bin/chromium}"
if [ -x "$want" ]; then exit 0; fi
if [ "$want" != /usr/bin/chromium ]; then
  echo "make browser-test: no Chromium at CHROMIUM=$want; point CHROMIUM to a Chromium binary" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "make browser-test: /usr/bin/chromium is missing and installing it needs root:" >&2
    echo "  run 'apt-get install -y chromium' as root, or set CHROMIUM=/path/to/chromium" >&2
    exit 1
  fi
  sudo="sudo -n"
fi
if ! command -v apt-get >/dev/null; then
  echo "make browser-test: no apt-get here; install Chromium yourself and set CHROMIUM=/path/to/it" >&2
  exit 1
fi
echo "installing Debian's chromium (apt-get) ..."
if ! { $sudo apt-get update -qq && \
       $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
  echo "make browser-test: 'apt-get install chromium' failed (see above); install it by hand," >&2
  echo "  or set CHROMIUM=/path/to/chromium" >&2
  exit 1
fi
test -x /usr/bin/chromium || { echo "make browser-test: chromium installed but /usr/bin/chromium is missing" >&2; exit 1; }
