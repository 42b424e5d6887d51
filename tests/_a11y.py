"""axe-core in headless Chromium, for the accessibility test of rendered reports.

Needs Playwright's Python package, the Debian ``chromium`` package (or
``VC_EVAL_CHROMIUM`` naming a Chromium binary) and axe-core's script, which
the ``axe-playwright-python`` package ships (nothing is fetched at run time).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def chromium_path() -> str | None:
    env = os.environ.get("VC_EVAL_CHROMIUM")
    if env and Path(env).exists():
        return env
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing() -> str | None:
    """Why the check cannot run here, or None."""
    try:
        import axe_playwright_python  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        return f"accessibility check needs playwright and axe-playwright-python ({err})"
    if chromium_path() is None:
        return "accessibility check needs Chromium (apt-get install chromium, or VC_EVAL_CHROMIUM)"
    return None


def axe_script() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


def run_axe(html_file: Path) -> list[dict]:
    """axe-core's violations on a local HTML file (every rule axe runs by default)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.goto(Path(html_file).resolve().as_uri())
            page.evaluate(axe_script())
            res = page.evaluate(
                "async () => await axe.run(document, {resultTypes: ['violations']})"
            )
        finally:
            browser.close()
    return res["violations"]
