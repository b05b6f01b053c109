"""Asking an OpenAI-compatible chat endpoint, many questions at once.

AsyncOpenAI clients with asyncio.Semaphores holding `concurrency` requests in flight, and the
client's own retries (exponential backoff with jitter, Retry-After honoured) for rate
limits, 5xx answers, timeouts and dropped connections. Unparseable answers are re-asked with a
short repair message up to `max_parse_retries` times, then reported, never guessed.

No Django here: `ask_all` takes plain data and returns plain data, so it runs anywhere.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import openai

try:  # the HTTP library under openai: httpx2 in recent releases, httpx before
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx

from judges.services.config import JudgeConfig
from judges.services.parsing import ParseError, answer_distribution, parse
from judges.services.prompts import REPAIR_PROMPTS
from judges.services.verdicts import Answer, Ask

TOP_LOGPROBS = 5
CONNECTIONS_PER_CLIENT = 8


class MalformedResponseError(openai.OpenAIError):
    """A 2xx answer that is not a chat completion: counted as a failed call, never a vote."""


def _json_of(response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise MalformedResponseError(f"answer is not JSON: {response.text[:200]!r}") from None
    if not isinstance(data, dict):
        raise MalformedResponseError(f"answer is not a JSON object: {response.text[:200]!r}")
    return data


class JudgeEndpointError(RuntimeError):
    """The endpoint refuses every request (bad key, unknown model...): stop the run, say why."""


@dataclass
class Stats:
    http_requests: int = 0
    logprobs_supported: bool = True


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One context for every client: loading the CA bundle costs tens of milliseconds each."""
    return httpx.create_ssl_context()


@functools.cache
def _http_client_class() -> type:
    """aiohttp under the openai client when it is installed (openai[aiohttp]): the openai
    docs' choice for concurrency, about a third less CPU per call; else httpx2."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return openai.DefaultAsyncHttpxClient
    return openai.DefaultAioHttpClient


def make_client(config: JudgeConfig, stats: Stats, connections: int) -> openai.AsyncOpenAI:
    async def count_request(request) -> None:
        stats.http_requests += 1

    http_client = _http_client_class()(
        verify=_ssl_context(),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        event_hooks={"request": [count_request]},
    )
    return openai.AsyncOpenAI(
        api_key=config.api_key or "not-needed",
        base_url=config.base_url or None,
        max_retries=config.max_retries,
        timeout=config.timeout_seconds,
        http_client=http_client,
    )


def shard_sizes(concurrency: int) -> list[int]:
    """Split `concurrency` into connection pools of at most CONNECTIONS_PER_CLIENT.

    httpcore checks every idle connection of a pool each time a request starts or ends, so
    one pool of 64 connections costs far more CPU per call than eight pools of eight.
    """
    concurrency = max(1, concurrency)
    shards = -(-concurrency // CONNECTIONS_PER_CLIENT)
    base, extra = divmod(concurrency, shards)
    return [base + (1 if i < extra else 0) for i in range(shards)]


def _describe(exc: Exception, config: JudgeConfig) -> str:
    where = f"{config.base_url or 'the default endpoint'} (model {config.model!r})"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} from {where}: {exc.message}"
    if isinstance(exc, openai.APITimeoutError):
        return f"timed out after {config.timeout_seconds:g}s waiting for {where}"
    if isinstance(exc, openai.APIConnectionError):
        return f"could not connect to {where}: {exc}"
    return f"{type(exc).__name__} from {where}: {exc}"


_FATAL = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)


async def _complete(
    client: openai.AsyncOpenAI, config: JudgeConfig, messages: list[dict], stats: Stats
) -> dict[str, Any]:
    """The chat completion as plain JSON."""
    while True:
        logprobs = config.use_logprobs and stats.logprobs_supported
        # Sampling parameters go in as they are (temperature, max_tokens, seed, and any extra
        # key a server accepts, such as top_k).
        body: dict[str, Any] = {
            **config.sampling_params,
            "model": config.model,
            "messages": messages,
        }
        if logprobs:
            body.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
        try:
            # client.post is the openai client's documented way to send a raw body and read the
            # raw response (same retries, backoff and errors as chat.completions.create).
            # create() spends about a millisecond of CPU per call walking TypedDict annotations
            # to transform parameters that are already plain JSON, and building response models
            # we read three fields of; with dozens of calls in flight that CPU, not the network,
            # is the limit.
            response = await client.post("/chat/completions", body=body, cast_to=httpx.Response)
            return _json_of(response)
        except openai.BadRequestError as exc:
            # Some servers refuse logprobs outright: ask without them from then on.
            if logprobs and "logprob" in str(exc).lower():
                stats.logprobs_supported = False
                continue
            raise


async def ask_one(
    client: openai.AsyncOpenAI, config: JudgeConfig, ask: Ask, stats: Stats
) -> Answer:
    answer = Answer(ok=False)
    messages = list(ask.messages)
    started = time.perf_counter()
    for _ in range(config.max_parse_retries + 1):
        try:
            completion = await _complete(client, config, messages, stats)
        except _FATAL as exc:
            raise JudgeEndpointError(_describe(exc, config)) from exc
        except openai.OpenAIError as exc:
            answer.error_kind, answer.error = "error", _describe(exc, config)
            break
        answer.attempts += 1
        usage = completion.get("usage") or {}
        answer.prompt_tokens += usage.get("prompt_tokens") or 0
        answer.completion_tokens += usage.get("completion_tokens") or 0
        choice = (completion.get("choices") or [{}])[0] or {}
        text = (choice.get("message") or {}).get("content") or ""
        answer.raw_outputs.append(text)
        answer.text = text
        try:
            parsed = parse(ask.mode, text, ask.n)
        except ParseError as exc:
            answer.error_kind, answer.error = "unparseable", str(exc)
            messages = [
                *ask.messages,
                {"role": "assistant", "content": text},
                {"role": "user", "content": REPAIR_PROMPTS[ask.mode]},
            ]
            continue
        content = (choice.get("logprobs") or {}).get("content")
        answer.ok, answer.parsed, answer.error_kind, answer.error = True, parsed, "", ""
        answer.distribution = answer_distribution(content, text, parsed, ask.mode)
        break
    answer.latency_ms = (time.perf_counter() - started) * 1000
    answer.cost = config.cost(answer.prompt_tokens, answer.completion_tokens)
    return answer


class EndpointSession:
    """Clients, connections and an event loop that live as long as a judge run.

    The loop runs in a background thread, so the synchronous caller (a django-q2 task) can
    `submit` a batch, write the previous batch's votes while it is in flight, then collect it.
    The limit of `config.concurrency` requests in flight is split over a few clients (see
    shard_sizes), each guarded by its own asyncio.Semaphore; asks are dealt to them in turn.
    """

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        self.stats = Stats()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="judge-endpoint", daemon=True
        )
        self._thread.start()
        self._clients: list[openai.AsyncOpenAI] = []
        self._semaphores: list[asyncio.Semaphore] = []
        self._call(self._open()).result()

    def _call(self, coroutine) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _open(self) -> None:
        sizes = shard_sizes(self.config.concurrency)
        self._clients = [make_client(self.config, self.stats, size) for size in sizes]
        self._semaphores = [asyncio.Semaphore(size) for size in sizes]

    async def _ask_all(self, asks: list[Ask]) -> list[Answer]:
        async def one(index: int, ask: Ask) -> Answer:
            shard = index % len(self._clients)
            async with self._semaphores[shard]:
                return await ask_one(self._clients[shard], self.config, ask, self.stats)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(i, ask)) for i, ask in enumerate(asks)]
        except* JudgeEndpointError as errors:
            raise errors.exceptions[0] from None
        return [task.result() for task in tasks]

    def submit(self, asks: list[Ask]) -> concurrent.futures.Future:
        """Start asking; the future's result is the answers, in the order of `asks`."""
        return self._call(self._ask_all(list(asks)))

    def ask(self, asks: list[Ask]) -> list[Answer]:
        return self.submit(asks).result()

    async def _close(self) -> None:
        # A run that failed may leave a batch in flight: stop it before closing its clients.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for client in self._clients:
            await client.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self._close()).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> EndpointSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ask_all(config: JudgeConfig, asks: list[Ask]) -> tuple[list[Answer], Stats]:
    """Ask everything at once and wait (scripts, benchmarks); runs use an EndpointSession."""
    with EndpointSession(config) as session:
        return session.ask(asks), session.stats
