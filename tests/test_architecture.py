"""engine/ is a headless library: it must import and work with Qt absent."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_engine_imports_and_runs_without_qt():
    code = textwrap.dedent(f"""
        import sys, pkgutil, importlib
        class BlockQt:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6', 'ui'):
                    raise ImportError('blocked in this test: ' + name)
        sys.meta_path.insert(0, BlockQt())
        sys.path.insert(0, {str(ROOT)!r})
        import engine
        for info in pkgutil.walk_packages(engine.__path__, 'engine.'):
            importlib.import_module(info.name)
        from engine.db import open_database
        with open_database({str(ROOT / 'resources/demo/lumen.sqlite')!r}) as db:
            assert db.schema().table('orders').row_count == 2400
        print('ok')
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_starting_and_stopping_a_run_needs_no_torch():
    """The window and the CLI start, stop and read runs without paying torch's import (seconds)."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import app.cli, engine.tune.process, engine.tune.run_folder, engine.workflows.pairs
        print('torch' in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
