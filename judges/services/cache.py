"""The answer cache: a re-run of the same judge version on the same question costs nothing.

Keyed on (judge, pinned version, config hash, mode, the messages sent, the responses in the
order shown): change any of them and the question is new. Only parsed answers are stored, so a
re-run asks again wherever the judge failed before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from judges.models import JudgeCacheEntry
from judges.services.config import JudgeConfig
from judges.services.verdicts import Answer, Ask


def cache_key(config: JudgeConfig, ask: Ask, shown_texts: list[str]) -> str:
    payload = {
        "judge": config.judge_id,
        "version": config.version,
        "config": config.config_hash,
        "mode": ask.mode,
        "messages": ask.messages,
        "shown": shown_texts,
    }
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def cache_get_many(keys: Iterable[str]) -> dict[str, Answer]:
    keys = list(set(keys))
    found: dict[str, Answer] = {}
    for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
        for key, output in JudgeCacheEntry.objects.filter(
            key__in=keys[start : start + 500]
        ).values_list("key", "output"):
            found[key] = Answer.from_cache(output)
    return found


def cache_put_many(*, judge_id: int, answers: dict[str, Answer]) -> int:
    entries = [
        JudgeCacheEntry(key=key, judge_id=judge_id, output=answer.to_cache())
        for key, answer in answers.items()
        if answer.ok
    ]
    JudgeCacheEntry.objects.bulk_create(entries, ignore_conflicts=True, batch_size=500)
    return len(entries)


def cache_clear(*, judge_id: int) -> int:
    deleted, _ = JudgeCacheEntry.objects.filter(judge_id=judge_id).delete()
    return deleted
