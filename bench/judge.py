"""Benchmark the OpenAI-compatible judge: N pairs, both orders, against a local server.

A chat-completions server on 127.0.0.1 (a separate process, asyncio, keep-alive) answers every
call after `--latency` seconds with a verdict and its logprobs. The judge asks all 2 x N calls
through judges.services.openai_client (the real openai client, `--concurrency` in flight), and
the bench prints the wall time against the ideal bound calls x latency / concurrency, and
against a sequential run (concurrency 1) over a subset, extrapolated to every call.

    .venv/bin/python bench/judge.py                      # 1,000 pairs, 100 ms, concurrency 64
    .venv/bin/python bench/judge.py --with-db            # also a full judge run (votes in SQLite)

The machine's load average is printed too: on a shared machine other processes' CPU use
stretches every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESPONSE = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 0,
    "model": "bench-judge",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "A"},
            "finish_reason": "stop",
            "logprobs": {
                "content": [
                    {
                        "token": "A",
                        "logprob": -0.3567,
                        "bytes": [65],
                        "top_logprobs": [
                            {"token": "A", "logprob": -0.3567, "bytes": [65]},
                            {"token": "B", "logprob": -1.2040, "bytes": [66]},
                        ],
                    }
                ],
                "refusal": None,
            },
        }
    ],
    "usage": {"prompt_tokens": 400, "completion_tokens": 1, "total_tokens": 401},
}


def serve(latency: float) -> None:
    """A minimal HTTP/1.1 chat-completions server: every request answered after `latency`."""
    body = json.dumps(RESPONSE).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(
        body
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in header.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                await asyncio.sleep(latency)
                writer.write(head + body)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/v1"


def make_asks(config, pairs: int):
    from judges.services.prompts import render
    from judges.services.verdicts import Ask

    asks = []
    for i in range(pairs):
        conversation = [{"role": "user", "content": f"Question {i}: how do I reverse a list?"}]
        texts = [
            f"Answer {i}a: use reversed(xs) or xs[::-1]. " * 8,
            f"Answer {i}b: call xs.reverse() to do it in place. " * 8,
        ]
        for shown in ([0, 1], [1, 0]):
            messages = render(
                config,
                conversation=conversation,
                shown=[texts[j] for j in shown],
                mode="pairwise",
            )
            asks.append(Ask(i, shown, "pairwise", messages=messages))
    return asks


def timed(config, asks) -> tuple[float, float, list]:
    from judges.services.openai_client import ask_all

    wall, cpu = time.perf_counter(), time.process_time()
    answers, _ = ask_all(config, asks)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    failed = [a for a in answers if not a.ok]
    if failed:
        raise SystemExit(f"{len(failed)} calls failed, e.g. {failed[0].error}")
    return wall, cpu, answers


def bench_client(args, base_url: str) -> None:
    from judges.services.config import JudgeConfig

    def config(concurrency: int) -> JudgeConfig:
        return JudgeConfig(
            judge_id=0,
            name="bench",
            kind="openai",
            version="1",
            config_hash="bench",
            base_url=base_url,
            model="bench-judge",
            concurrency=concurrency,
            max_retries=0,
        )

    asks = make_asks(config(args.concurrency), args.pairs)
    calls = len(asks)
    timed(config(8), asks[:16])  # warm up imports and connections
    bound = calls * args.latency / args.concurrency
    wall, cpu, answers = timed(config(args.concurrency), asks)
    assert all(a.distribution and abs(a.distribution["A"] - 0.7) < 1e-3 for a in answers)
    sample = asks[: args.sequential]
    seq_wall, _, _ = timed(config(1), sample)
    per_call = seq_wall / len(sample)
    sequential = per_call * calls
    from judges.services.openai_client import _http_client_class

    transport = "aiohttp" if "Aio" in _http_client_class().__name__ else "httpx2"
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"openai client transport: {transport} (aiohttp is used when installed)")
    print(f"calls: {calls} ({args.pairs} pairs x 2 orders), latency {args.latency * 1000:.0f} ms")
    print(f"concurrency {args.concurrency}: wall {wall:.2f} s")
    print(f"  bound calls x latency / concurrency = {bound:.2f} s -> {wall / bound:.2f}x the bound")
    print(f"  target <= 1.3x: {'met' if wall <= 1.3 * bound else 'MISSED'}")
    print(f"  client CPU {cpu:.2f} s ({1000 * cpu / calls:.2f} ms per call)")
    print(
        f"sequential (concurrency 1) on {len(sample)} calls: {per_call * 1000:.1f} ms per call, "
        f"extrapolated to {calls} calls: {sequential:.1f} s -> concurrency is "
        f"{sequential / wall:.1f}x faster"
    )


def bench_run(args, base_url: str) -> None:
    """A full judge run through Django: build asks, cache, call, cast 1 vote per pair."""
    workdir = Path(tempfile.mkdtemp(prefix="judge-bench-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["PS_DATA_DIR"] = str(workdir)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from annotate.models import Comparison, ComparisonItem, Project, Prompt, Response, content_hash
    from judges.services import runs
    from judges.services.judges import judge_create

    project = Project.objects.create(name="Judge bench", slug="judge-bench")
    conversations = [[{"role": "user", "content": f"Q{i}?"}] for i in range(args.pairs)]
    prompts = Prompt.objects.bulk_create(
        [Prompt(project=project, messages=m, content_hash=content_hash(m)) for m in conversations]
    )
    texts = [(p, f"Answer {p.pk}{side}. " * 8) for p in prompts for side in "ab"]
    responses = Response.objects.bulk_create(
        [Response(prompt=p, text=t, content_hash=content_hash(t)) for p, t in texts]
    )
    comparisons = Comparison.objects.bulk_create(
        [
            Comparison(
                project=project,
                prompt=p,
                content_hash=Comparison.hash_for(
                    p.pk, [r.pk for r in responses[2 * i : 2 * i + 2]]
                ),
            )
            for i, p in enumerate(prompts)
        ]
    )
    ComparisonItem.objects.bulk_create(
        [
            ComparisonItem(comparison=c, response=responses[2 * i + k], position=k)
            for i, c in enumerate(comparisons)
            for k in (0, 1)
        ]
    )
    judge = judge_create(
        name="bench-judge",
        kind="openai",
        base_url=base_url,
        model="bench-judge",
        concurrency=args.concurrency,
        max_retries=0,
    )
    run = runs.judge_run_create(judge=judge, project=project, enqueue=False)
    started = time.perf_counter()
    run = runs.judge_run_execute(run_id=run.pk)
    wall = time.perf_counter() - started
    bound = 2 * args.pairs * args.latency / args.concurrency
    print(
        f"full judge run (SQLite, {run.voted} votes cast, status {run.status}): wall {wall:.2f} s "
        f"-> {wall / bound:.2f}x the bound {bound:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sequential", type=int, default=40, help="calls in the sequential run")
    parser.add_argument("--with-db", action="store_true", help="also time a full judge run")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency)
        return
    proc, base_url = start_server(args.latency)
    try:
        bench_client(args, base_url)
        if args.with_db:
            bench_run(args, base_url)
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
