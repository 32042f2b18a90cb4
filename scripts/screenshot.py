"""Take docs/shop.png: the demo shop's home page after a short browse (``make screenshot``)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

from example_app.shop import create_app
from pc_middleware.emulator import create_app as create_emulator
from pc_middleware.testing import EmulatorHandle, serve_in_thread

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
OUT = Path(__file__).parent.parent / "docs" / "shop.png"


def main() -> None:
    emulator_app = create_emulator()
    with serve_in_thread(emulator_app) as api_url:
        settings = EmulatorHandle(emulator_app, emulator_app.state.emulator, api_url).settings
        with serve_in_thread(create_app(settings=settings)) as shop, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            for path in ("/product/P013", "/product/P008", "/product/P026", "/switch?debug=1", "/"):
                page.goto(shop + path)
            page.screenshot(path=str(OUT), full_page=False)
            browser.close()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
