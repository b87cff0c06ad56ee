"""What the browser tests share: Debian's chromium, its flags, and when to skip."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
)
# headless in a container: no sandbox, GPU or network chatter; playwright downloads nothing
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
NEEDS_BROWSER = [
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="playwright is not installed (pip install playwright; no browser download needed)",
    ),
    pytest.mark.skipif(
        CHROMIUM is None, reason="no chromium executable (apt-get install chromium)"
    ),
]
