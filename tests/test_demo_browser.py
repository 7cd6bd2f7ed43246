"""A real headless Chromium (the system package, driven by Playwright) clicks "new samples" and an example in the demo.

Needs ``chromium`` (Debian: ``apt-get install chromium chromium-driver``; ``.ci/run`` installs it) and
the ``playwright`` Python package (in the ``test`` extra). Without Chromium the test is skipped with
the reason. ``DEMO_SCREENSHOT=docs/images/demo.png`` keeps the screenshot (default: a temp file);
``DEMO_SOURCE=runs/quickstart`` shows that model instead of an untrained tiny one.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from demo_server import serve  # noqa: E402
from tiny_exports import write_gan_export  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 120_000  # a loaded 2-core CI machine

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (Debian: apt-get install chromium chromium-driver)")


def test_new_samples_button_and_an_example_bring_new_images(tmp_path: Path) -> None:
    pytest.importorskip("gradio")
    sync_api = pytest.importorskip("playwright.sync_api")
    from gan.deploy.demo import DemoModel, build_app

    source = os.environ.get("DEMO_SOURCE") or write_gan_export(tmp_path / "export")
    screenshot = Path(os.environ.get("DEMO_SCREENSHOT") or tmp_path / "demo.png")
    with serve(build_app(DemoModel(source))) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 1000})
        try:
            page = browser.new_page()
            page.goto(url, timeout=TIMEOUT_MS)
            grid = page.locator("#grid img")
            grid.wait_for(timeout=TIMEOUT_MS)  # the first grid arrives when the page loads
            first = grid.get_attribute("src")
            assert page.locator("#seed input").input_value() == "0"
            page.locator("#new_samples").click()
            page.wait_for_function("s => { const i = document.querySelector('#grid img'); return i && i.getAttribute('src') !== s; }",
                                   arg=first, timeout=TIMEOUT_MS)
            assert grid.get_attribute("src") != first
            assert page.locator("#seed input").input_value() == "16"  # the next 16 seeds
            assert grid.evaluate("i => i.complete && i.naturalWidth") > 0  # the new image really loaded
            # an example fills the controls (seed 1000, 4 images) and the grid follows them without a button
            before = grid.get_attribute("src")
            page.locator('#examples [data-testid="dataset-cell-2-0"]').click()
            page.wait_for_function("s => { const i = document.querySelector('#grid img'); return i && i.getAttribute('src') !== s; }",
                                   arg=before, timeout=TIMEOUT_MS)
            assert page.locator("#seed input").input_value() == "1000" and page.locator("#num input[type=number]").input_value() == "4"
            page.wait_for_function("() => { const i = document.querySelector('#grid img'); return i && i.complete && i.naturalWidth > 0; }",
                                   timeout=TIMEOUT_MS)
            height, width, _ = DemoModel(source).samples(1000, 4).shape  # the 2x2 grid of the example, not the 4x4 one before
            assert grid.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [width, height]
            page.locator("#interpolate").click()
            page.locator("#strip img").wait_for(timeout=TIMEOUT_MS)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
