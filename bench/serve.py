"""The annotator's vote+next loop over real HTTP, against each candidate web server.

Each client is its own annotator with its own session: it logs in, then repeats "open the compare
page, submit a vote" (the POST answers with a redirect to the next item, which the client
follows), as a browser without JavaScript does. Every server serves the same fresh project from
the same SQLite database, with DEBUG off, in the same run; clients and servers share this
machine's cores, as they would on a small box.

    .venv/bin/python bench/serve.py [--votes 40] [--clients 1,8] [--repeats 3] [--servers a,b]

Prints votes/s and p50/p95/p99 milliseconds per vote (POST + next page) per server and number of
clients, and each server's throughput relative to runserver. uvicorn and granian are measured
when installed (`.venv/bin/pip install uvicorn granian`; they are not dependencies).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.served import free_port, wait_until_served  # noqa: E402

PASSWORD = "bench-password-123"

SERVERS = {
    "runserver": lambda addr: [sys.executable, "manage.py", "runserver", "--noreload", addr],
    "gunicorn-gthread": lambda addr: [
        *("-m gunicorn config.wsgi:application --no-control-socket".split()),
        *("--worker-class gthread --workers 2 --threads 4 --bind".split()),
        addr,
    ],
    "gunicorn-sync": lambda addr: [
        *("-m gunicorn config.wsgi:application --no-control-socket".split()),
        *("--worker-class sync --workers 4 --bind".split()),
        addr,
    ],
    "uvicorn": lambda addr: [
        *("-m uvicorn config.asgi:application --workers 2 --no-access-log --host".split()),
        addr.split(":")[0],
        "--port",
        addr.split(":")[1],
    ],
    "granian-wsgi": lambda addr: [
        *("-m granian --interface wsgi --workers 2 --blocking-threads 4 --host".split()),
        addr.split(":")[0],
        "--port",
        addr.split(":")[1],
        "config.wsgi:application",
    ],
}
NEEDS = {"uvicorn": "uvicorn", "granian-wsgi": "granian"}


def prepare(data_dir: Path, projects: list[str], prompts: int, clients: int) -> None:
    """A database with one project per measurement and `clients` annotators in each."""
    env = environment(data_dir)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    rows = [
        {
            "prompt": f"Question {i}: how do I do task {i}?",
            "responses": [f"Do {i} A.", f"Do {i} B."],
        }
        for i in range(prompts)
    ]
    script = f"""
import django, io, json
django.setup()
from django.contrib.auth import get_user_model
from annotate.services.import_ import data_import
from annotate.services.projects import membership_set, project_create
users = [get_user_model().objects.create_user(f"bench{{i}}", password={PASSWORD!r})
         for i in range({clients})]
rows = "\\n".join(json.dumps(r) for r in json.loads({json.dumps(json.dumps(rows))}))
for slug in {projects!r}:
    project = project_create(name=slug, slug=slug, overlap={clients})
    data_import(project=project, file=io.BytesIO(rows.encode()), filename="bench.jsonl")
    for user in users:
        membership_set(project=project, user=user, role="annotator")
"""
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True)


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "Q_BROKER")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DJANGO_DEBUG="0",
        PS_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


class Client:
    """One annotator's browser without JavaScript: cookies, CSRF tokens, redirects."""

    def __init__(self, base: str, username: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.get("/accounts/login/")
        self.post("/accounts/login/", {"username": username, "password": PASSWORD}, page)

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=60) as response:
            return response.read().decode()

    def post(self, path: str, fields: dict, page: str) -> str:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        request = urllib.request.Request(
            self.base + path, data=data, headers={"Referer": self.base + path}
        )
        with self.opener.open(request, timeout=60) as response:
            return response.read().decode()

    def vote_loop(self, slug: str, votes: int, timings: list[float], warmup: int = 3) -> None:
        """`warmup` untimed votes first: each server process compiles templates and opens its
        database connection on its first requests."""
        page = self.get(f"/p/{slug}/")
        for number in range(warmup + votes):
            form = re.search(r'<form id="vote-form" method="post" action="([^"]+)"', page)
            if form is None:
                return  # queue empty
            started = time.perf_counter()
            page = self.post(form.group(1), {"choice": "a", "strength": "2"}, page)
            if number >= warmup:
                timings.append(time.perf_counter() - started)


def measure(name: str, slug: str, clients: int, votes: int, data_dir: Path) -> dict:
    port = free_port()
    address = f"127.0.0.1:{port}"
    log = open(data_dir / f"{name}-{clients}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        SERVERS[name](address)
        if name == "runserver"
        else [sys.executable, *SERVERS[name](address)],
        cwd=ROOT,
        env=environment(data_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://{address}"
    try:
        wait_until_served(base, proc, Path(log.name))
        sessions = [Client(base, f"bench{i}") for i in range(clients)]
        timings: list[float] = []
        threads = [
            threading.Thread(target=c.vote_loop, args=(slug, votes, timings)) for c in sessions
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Throughput from the timed votes: their summed latency spread over the clients.
        elapsed = sum(timings) / clients
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()
    if not timings:
        raise SystemExit(f"{name}: no vote went through; see {log.name}")
    return {
        "server": name,
        "clients": clients,
        "ms": [t * 1000 for t in timings],
        "rate": len(timings) / elapsed,
    }


def summarise(repeats: list[dict]) -> dict:
    """Median throughput over the repeats; latency percentiles over all their votes."""
    ms = sorted(t for r in repeats for t in r["ms"])
    return {
        "server": repeats[0]["server"],
        "clients": repeats[0]["clients"],
        "votes": len(ms),
        "votes_per_s": statistics.median(r["rate"] for r in repeats),
        "p50": statistics.median(ms),
        "p95": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
        "p99": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=40, help="votes per client")
    parser.add_argument("--clients", default="1,8", help="concurrent clients, comma-separated")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each server")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    servers = []
    for name in args.servers.split(","):
        module = NEEDS.get(name)
        if module and importlib.util.find_spec(module) is None:
            print(f"skipping {name}: not installed (.venv/bin/pip install {module})")
            continue
        servers.append(name)
    data_dir = Path(tempfile.mkdtemp(prefix="ps-bench-serve-"))
    try:
        # Interleaved: each repeat measures every server once, so a busy spell hits them all.
        runs = [(s, c, r) for r in range(args.repeats) for c in counts for s in servers]
        slugs = {run: f"b-{run[0]}-{run[1]}-{run[2]}" for run in runs}
        prepare(data_dir, list(slugs.values()), prompts=args.votes + 8, clients=max(counts))
        results = [measure(s, slugs[(s, c, r)], c, args.votes, data_dir) for s, c, r in runs]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    rows = [
        summarise([r for r in results if (r["server"], r["clients"]) == (s, c)])
        for c in counts
        for s in servers
    ]
    print(
        f"{'server':<18} {'clients':>7} {'votes':>6} {'votes/s':>8} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'p99 ms':>7} {'vs runserver':>12}"
    )
    for row in rows:
        base = next(
            (r for r in rows if r["server"] == "runserver" and r["clients"] == row["clients"]), None
        )
        ratio = f"{row['votes_per_s'] / base['votes_per_s']:.2f}x" if base else "-"
        print(
            f"{row['server']:<18} {row['clients']:>7} {row['votes']:>6} {row['votes_per_s']:>8.1f} "
            f"{row['p50']:>7.1f} {row['p95']:>7.1f} {row['p99']:>7.1f} {ratio:>12}"
        )
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
