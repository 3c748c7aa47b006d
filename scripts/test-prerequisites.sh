#!/usr/bin/env bash
# What `make test` needs beyond the virtual environment and the front-end assets, made available the way
# `make run` makes everything else available:
#   - a Chromium for the browser tests (Playwright drives it);
#   - libmagic, which python-magic uses to tell a file's type from its bytes (attachments).
# In order: already there -> Debian's packages with apt-get (when running as root on Debian) -> Playwright's own
# Chromium (`playwright install chromium`, needs its download server). When nothing works, one line says what to
# install, and `make test` stops before running a test. PostgreSQL and Redis are optional: without them the tests
# that need them are skipped, each with its reason in pytest's summary.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$root/.venv/bin/python"

have_chromium() {
    command -v chromium >/dev/null 2>&1 && return 0
    # Playwright's own browser, installed by an earlier `playwright install chromium`
    "$python" - <<'EOF' >/dev/null 2>&1
import os, sys
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    sys.exit(0 if os.path.exists(p.chromium.executable_path) else 1)
EOF
}

have_libmagic() {
    "$python" -c 'import magic; magic.from_buffer(b"%PDF-1.4", mime=True)' >/dev/null 2>&1
}

missing=()
have_chromium || missing+=(chromium fonts-dejavu-core)
have_libmagic || missing+=(libmagic1)
((${#missing[@]})) || exit 0

if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "make test: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >/dev/null 2>&1 \
        || { apt-get update -q </dev/null >/dev/null 2>&1 \
            && apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >/dev/null 2>&1; } \
        || echo "make test: apt-get could not install ${missing[*]}"
fi

if ! have_chromium; then
    echo "make test: no chromium found: trying Playwright's own (playwright install chromium)"
    "$root/.venv/bin/playwright" install chromium >/dev/null 2>&1 || true
fi

problems=()
have_chromium || problems+=("a Chromium for the browser tests (Debian: apt-get install chromium; elsewhere: .venv/bin/playwright install chromium)")
have_libmagic || problems+=("libmagic for attachments (Debian: apt-get install libmagic1; macOS: brew install libmagic)")
for problem in "${problems[@]}"; do
    echo "make test cannot run: install $problem" >&2
done
((${#problems[@]} == 0))
