"""Where a judge's answers come from: an OpenAI-compatible endpoint or a local model.

Both take a batch of Asks with `submit` and return a future of Answers, so a run can write one
batch's votes while the next batch is being asked. An endpoint keeps one session (event loop,
clients, connections) for the whole run; local models answer in the caller's thread.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from annotate.models import Comparison
from judges.models import JudgeKind
from judges.services import local, openai_client
from judges.services.config import JudgeConfig
from judges.services.verdicts import Answer, Ask


@dataclass
class Item:
    comparison: Comparison
    conversation: list[dict]
    response_ids: list[int]
    texts: list[str]

    @property
    def n(self) -> int:
        return len(self.response_ids)


class LocalBackend:
    """Local models answer in this thread: `submit` returns a finished future."""

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config

    def take_http_requests(self) -> int:
        return 0

    def submit(self, asks: list[Ask], items: dict[int, Item]) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(self._answer(asks, items))
        except Exception as exc:  # delivered where the caller collects the batch
            future.set_exception(exc)
        return future

    def _answer(self, asks: list[Ask], items: dict[int, Item]) -> list[Answer]:
        if not asks:
            return []
        if self.config.kind == JudgeKind.LOCAL_LM:
            return local.ask_local_lm(self.config, asks)
        conversations = [items[a.comparison_id].conversation for a in asks]
        texts = [items[a.comparison_id].texts for a in asks]
        return local.ask_reward_model(self.config, asks, conversations, texts)

    def close(self) -> None:
        pass


class EndpointBackend:
    """An OpenAI-compatible endpoint: batches go to a session that lives for the run."""

    def __init__(self, config: JudgeConfig) -> None:
        self.session = openai_client.EndpointSession(config)
        self._reported = 0

    def take_http_requests(self) -> int:
        """HTTP requests (retries included) since the last call; batches overlap, so the
        session counts them and each finished batch reports what accrued."""
        total = self.session.stats.http_requests
        delta, self._reported = total - self._reported, total
        return delta

    def submit(self, asks: list[Ask], items: dict[int, Item]) -> concurrent.futures.Future:
        return self.session.submit(asks)

    def close(self) -> None:
        self.session.close()


@contextmanager
def open_backend(config: JudgeConfig) -> Iterator[LocalBackend | EndpointBackend]:
    backend = EndpointBackend(config) if config.kind == JudgeKind.OPENAI else LocalBackend(config)
    try:
        yield backend
    finally:
        backend.close()
