"""Screenshots of the rater and reviewer pages for the README, at 375 px (a phone) and 1366 px.

    .venv/bin/python docs/screenshots/make.py [--out docs/screenshots]

Builds the demo in a temporary data directory (plus a ranking copy of its prompts), serves it
with the production server and photographs, in Debian's Chromium: the pairwise compare page and
the ranking compare page as the annotator alice sees them, and the review list and a review
detail as the admin (a reviewer) sees them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.served import demo_served  # noqa: E402

WIDTHS = {"375": (375, 812), "1366": (1366, 900)}

RANKING = """
from django.contrib.auth import get_user_model
from annotate.demo import __file__ as demo
from annotate.services.import_ import data_import
from annotate.services.projects import membership_set, project_create
from pathlib import Path
project = project_create(name="Demo (ranking)", slug="demo-ranking", mode="ranking",
                         criteria=["helpful", "honest", "harmless"], overlap=2)
data_import(project=project, file=Path(demo).parent / "demo_project.jsonl")
for name in ("alice", "admin"):
    membership_set(project=project, user=get_user_model().objects.get(username=name),
                   role="annotator" if name == "alice" else "admin")
"""


def login(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/accounts/login" not in url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with demo_served(setup=(RANKING,)) as base:
        args.out.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            for label, (width, height) in WIDTHS.items():
                for who, password, shots in (
                    (
                        "alice",
                        "alice-demo",
                        (("compare-pairwise", "/p/demo/"), ("compare-ranking", "/p/demo-ranking/")),
                    ),
                    ("admin", "admin-demo", (("review", "/p/demo/review/"),)),
                ):
                    context = browser.new_context(viewport={"width": width, "height": height})
                    page = context.new_page()
                    login(page, base, who, password)
                    for name, path in shots:
                        page.goto(base + path)
                        page.wait_for_load_state("networkidle")
                        page.screenshot(path=str(args.out / f"{name}-{label}.png"))
                        if name == "review":
                            link = page.query_selector("main a[href*='/review/']")
                            if link:
                                page.goto(base + link.get_attribute("href"))
                                page.wait_for_load_state("networkidle")
                                page.screenshot(path=str(args.out / f"review-detail-{label}.png"))
                    context.close()
            browser.close()
    for path in sorted(args.out.glob("*.png")):
        print(path.relative_to(ROOT), f"{path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
