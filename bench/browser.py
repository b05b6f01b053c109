"""The rater's loop in a real browser: key press to the next item painted, and server time.

Sets up the demo (quickstart --no-serve) in a temporary data directory, serves it with the
production server (`manage.py serve --no-worker`, gunicorn), logs in as the demo annotator alice
in Debian's Chromium (Playwright) and votes on consecutive items by keyboard only: `1` (A is
better), `x` (clearly), Enter. For each vote it measures, in the page, from the Enter keydown to
the first animation frame after the next item's panel is in the DOM (the next paint), and the
vote request's server time (the Resource Timing API's responseStart - requestStart: the server's
work plus one loopback round trip).

    .venv/bin/python bench/browser.py [--votes 30] [--warmup 3] [--chromium /usr/bin/chromium]

Prints median and p95 of both, in milliseconds. Target: p95 key press -> next item painted
<= 50 ms on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.served import demo_served  # noqa: E402

# Installed once per page: stamps the Enter keydown and the frame after the panel changes.
PROBE = """
(() => {
  window.__marks = [];
  document.addEventListener('keydown', e => {
    if (e.key === 'Enter') window.__t0 = performance.now();
  }, true);
  let last = document.querySelector('#panel')?.dataset.comparison;
  new MutationObserver(() => {
    const panels = document.querySelectorAll('#panel');
    const now = panels.length === 1 ? panels[0].dataset.comparison : null;
    if (now && now !== last && window.__t0 !== undefined) {
      last = now;
      const t0 = window.__t0;
      window.__t0 = undefined;
      requestAnimationFrame(() => window.__marks.push({id: now, ms: performance.now() - t0}));
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             attributeFilter: ['data-comparison']});
})();
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3, help="untimed votes first")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with demo_served() as base:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(base + "/accounts/login/")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-demo")
            page.keyboard.press("Enter")
            page.wait_for_url(lambda url: "/accounts/login" not in url)
            page.goto(base + "/p/demo/")
            page.wait_for_selector("#panel[data-comparison]")
            page.evaluate(PROBE)
            paint, server_ms = [], []
            for number in range(args.warmup + args.votes):
                before = page.get_attribute("#panel", "data-comparison")
                marks = page.evaluate("window.__marks.length")
                page.keyboard.press("1")
                page.keyboard.press("x")
                page.keyboard.press("Enter")
                page.wait_for_function("n => window.__marks.length > n", arg=marks, timeout=30000)
                mark = page.evaluate("window.__marks[window.__marks.length - 1]")
                vote = page.evaluate(
                    "() => { const r = performance.getEntriesByType('resource')"
                    ".filter(e => e.name.includes('/vote/')); const e = r[r.length - 1];"
                    " return e ? e.responseStart - e.requestStart : null; }"
                )
                assert mark["id"] != before, "the panel did not move on"
                if number >= args.warmup:
                    paint.append(mark["ms"])
                    if vote is not None:
                        server_ms.append(vote)
            browser.close()

    print(f"{len(paint)} keyboard votes in Chromium (after {args.warmup} untimed)")
    print(
        f"key press -> next item painted: median {statistics.median(paint):.1f} ms, "
        f"p95 {percentile(paint, 0.95):.1f} ms (target p95 <= 50 ms)"
    )
    if server_ms:
        print(
            f"vote request server time:       median {statistics.median(server_ms):.1f} ms, "
            f"p95 {percentile(server_ms, 0.95):.1f} ms"
        )


if __name__ == "__main__":
    main()
