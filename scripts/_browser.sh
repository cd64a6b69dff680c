# Sourced by scripts/test: the browser the web tests drive (Playwright with Debian's
# chromium at /usr/bin/chromium; Playwright's own download needs a CDN we do not use).

ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "The browser tests need Debian's chromium; install it as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends chromium" >&2
    return 1
  fi
  echo "Installing chromium for the browser tests..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
  if ! command -v chromium >/dev/null 2>&1; then
    echo "apt-get installed chromium, but it is not on PATH" >&2
    return 1
  fi
}
