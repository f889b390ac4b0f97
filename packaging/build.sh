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
DEMO=dist/Engram/_internal/resources/demo/lumen.sqlite
OFFLINE=(unshare -rn)
unshare -rn true 2>/dev/null || { OFFLINE=(); echo "unshare is not allowed here: the network stays up"; }
run_check "${OFFLINE[@]}" dist/Engram/Engram --self-test
# the command line and the training child (a frozen app starts it as `Engram --tune-child`): a short run
run_check "${OFFLINE[@]}" dist/Engram/Engram --cli generate "$DEMO" --approve-valid >/dev/null
run_check "${OFFLINE[@]}" dist/Engram/Engram --cli tune --database "$DEMO" --max-pairs 6 --max-steps 3 \
    --run-dir "$CHECK_HOME/run" | tail -n 1
test -f "$CHECK_HOME/run/adapter/adapter_config.json"
echo "offline check passed${OFFLINE:+ (no network)}: self-test, generate, a 3-step training run in the child process"
rm -rf "$CHECK_HOME"

tar -C dist -cf - Engram | gzip -1 > "dist/Engram-$VERSION-linux-$ARCH.tar.gz"
du -sh dist/Engram "dist/Engram-$VERSION-linux-$ARCH.tar.gz"
