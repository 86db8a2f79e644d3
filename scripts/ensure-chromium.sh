#!/usr/bin/env bash
# The web console's browser tests drive Debian's Chromium (test/console/chromium.ts). `npm test`
# installs it from Debian's packages when it is missing, so a fresh clone's `npm test` needs
# nothing else. Without root or sudo it says what to install and leaves the tests to fail.
set -euo pipefail
chromium_bin="${TOKENWATCH_CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium_bin" ] && exit 0
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo_cmd=(sudo -n)
  else
    echo "ensure-chromium: $chromium_bin is missing and this user cannot install it: run 'apt-get install chromium' as root (the console's browser tests need it)" >&2
    exit 0
  fi
fi
echo "ensure-chromium: installing Debian's chromium for the console's browser tests" >&2
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
