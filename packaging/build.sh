#!/usr/bin/env bash
# Build the desktop bundle: dist/Engram/ (run dist/Engram/Engram) and dist/Engram-VERSION-linux-ARCH.tar.gz,
# then check the built app offline: --self-test with the network switched off (a network namespace
# with no interfaces, where `unshare` is allowed; otherwise the check runs with the network up and says so).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
VERSION=$($BIN/python -c "import importlib.metadata as m; print(m.version('engram'))")
ARCH=$(uname -m)

$BIN/pyinstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller packaging/engram.spec

echo "== offline install check"
CHECK_HOME=$(mktemp -d)  # a first run: no settings, no projects, no model cache
run_check() { env -i HOME="$CHECK_HOME" PATH=/usr/bin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen "$@"; }
if unshare -rn true 2>/dev/null; then
    run_check unshare -rn dist/Engram/Engram --self-test
    run_check unshare -rn dist/Engram/Engram --cli inspect dist/Engram/_internal/resources/demo/lumen.duckdb >/dev/null
    echo "offline check passed (no network)"
else
    run_check dist/Engram/Engram --self-test
    echo "self-test passed; unshare is not allowed here, so the network was not switched off"
fi
rm -rf "$CHECK_HOME"

tar -C dist -cf - Engram | gzip -1 > "dist/Engram-$VERSION-linux-$ARCH.tar.gz"
du -sh dist/Engram "dist/Engram-$VERSION-linux-$ARCH.tar.gz"
