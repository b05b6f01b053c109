"""A real HTTP server on 127.0.0.1 that speaks enough of the chat-completions API for the tests.

Each request goes to a `responder(request) -> Reply` the test sets: the reply may carry a text,
the probabilities of the answer token (returned as logprobs / top_logprobs), a delay, an HTTP
error status with headers (429 / 500 with Retry-After), or a malformed body. Every request is
recorded. Also runnable on its own for the benchmark:

    python -m tests.judges.fake_openai --latency 0.1     # prints the port, serves until killed
"""

from __future__ import annotations

import argparse
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_TOKEN = re.compile(r"\[\[|\]\]|\w+|\s+|[^\w\s]")
_RESPONSE = re.compile(r"\[Response ([A-Z])\]\n(.*?)\n\[End of Response \1\]", re.DOTALL)
_SINGLE = re.compile(r"\[Response\]\n(.*?)\n\[End of Response\]", re.DOTALL)


@dataclass
class Reply:
    content: str = "A"
    probs: dict[str, float] | None = None
    """Probabilities of the answer token's alternatives, e.g. {"A": 0.8, "B": 0.2}: the last
    token of `content` that is one of these keys gets them as top_logprobs."""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    prompt_tokens: int = 100
    completion_tokens: int = 5
    raw_body: bytes | None = None


@dataclass
class FakeRequest:
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        return str(self.body["messages"][-1]["content"])

    @property
    def first_prompt(self) -> str:
        return next(str(m["content"]) for m in self.body["messages"] if m["role"] == "user")

    @property
    def repair(self) -> bool:
        """A re-ask after an unparseable answer (the client sent its previous output back)."""
        return any(m["role"] == "assistant" for m in self.body["messages"])

    @property
    def shown(self) -> list[str]:
        """The response texts in the order shown (A, B, ...), or the one graded."""
        found = _RESPONSE.findall(self.first_prompt)
        if found:
            return [text for _, text in found]
        return _SINGLE.findall(self.first_prompt)

    @property
    def wants_logprobs(self) -> bool:
        return bool(self.body.get("logprobs"))


Responder = Callable[[FakeRequest], Reply]


def always(content: str = "A", **kwargs) -> Responder:
    return lambda request: Reply(content=content, **kwargs)


def _logprobs(content: str, probs: dict[str, float] | None) -> dict[str, Any]:
    tokens = _TOKEN.findall(content)
    target = None
    if probs:
        target = max((i for i, t in enumerate(tokens) if t in probs), default=None)
    entries = []
    for i, token in enumerate(tokens):
        if i == target:
            top = [
                {"token": name, "logprob": math.log(p), "bytes": list(name.encode())}
                for name, p in sorted(probs.items(), key=lambda kv: -kv[1])
                if p > 0
            ]
            own = next(t["logprob"] for t in top if t["token"] == token)
        else:
            top = [{"token": token, "logprob": 0.0, "bytes": list(token.encode())}]
            own = 0.0
        entries.append(
            {"token": token, "logprob": own, "bytes": list(token.encode()), "top_logprobs": top}
        )
    return {"content": entries, "refusal": None}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        if self.server.api_key and self.headers.get("Authorization") != (
            f"Bearer {self.server.api_key}"
        ):
            self._send(401, {"error": {"message": "Incorrect API key provided", "type": "auth"}})
            return
        request = FakeRequest(body)
        with self.server.lock:
            self.server.requests.append(request)
        reply = self.server.responder(request)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.raw_body is not None:
            self._send_bytes(reply.status, reply.raw_body, reply.headers)
            return
        if reply.status != 200:
            error = {"error": {"message": f"scripted {reply.status}", "type": "server_error"}}
            self._send(reply.status, error, reply.headers)
            return
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": reply.content},
            "finish_reason": "stop",
            "logprobs": _logprobs(reply.content, reply.probs) if request.wants_logprobs else None,
        }
        self._send(
            200,
            {
                "id": f"chatcmpl-{len(self.server.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [choice],
                "usage": {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
            },
            reply.headers,
        )

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), headers)

    def _send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer


class FakeOpenAI(ThreadingHTTPServer):
    """Serve in a background thread: `with FakeOpenAI(responder) as server: server.base_url`."""

    daemon_threads = True
    request_queue_size = 512  # 64+ clients connect at once: the default backlog of 5 stalls them

    def __init__(self, responder: Responder | None = None, *, api_key: str = "") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.responder: Responder = responder or always("A")
        self.api_key = api_key
        self.requests: list[FakeRequest] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds before each answer")
    args = parser.parse_args()
    server = FakeOpenAI(always("A", probs={"A": 0.7, "B": 0.3}, delay=args.latency))
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
