"""A judge's settings as plain data, so the calling code never touches the ORM or a secret twice.

`JudgeConfig` is what the async client and the local backends receive; `judge_config(judge)`
builds it from a Judge row (resolving the API key from the row or the environment).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from judges.models import Judge

PAIRWISE_LABELS = ("A", "B", "C")  # C = tie, as in MT-Bench's "[[C]]"


@dataclass(frozen=True)
class JudgeConfig:
    judge_id: int
    name: str
    kind: str
    version: str
    config_hash: str
    mode: str = "pairwise"
    base_url: str = ""
    model: str = ""
    api_key: str = field(default="", repr=False)
    model_path: str = ""
    adapter_path: str = ""
    template: str = ""
    rubric: str = ""
    constitution: tuple[str, ...] = ()
    chain_of_thought: bool = False
    sampling_params: dict[str, Any] = field(default_factory=dict)
    use_logprobs: bool = True
    inconsistency: str = "tie"
    max_parse_retries: int = 2
    max_retries: int = 4
    timeout_seconds: float = 60.0
    concurrency: int = 16
    price_prompt_per_mtok: float = 0.0
    price_completion_per_mtok: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.price_prompt_per_mtok
            + completion_tokens * self.price_completion_per_mtok
        ) / 1_000_000

    @property
    def provenance(self) -> dict[str, Any]:
        """What every vote records about who judged it."""
        return {
            "id": self.judge_id,
            "name": self.name,
            "kind": self.kind,
            "version": self.version,
            "config_hash": self.config_hash,
            "model": self.model or self.model_path,
            "mode": self.mode,
        }


def judge_config(judge: Judge) -> JudgeConfig:
    version = judge.model_version
    api_key = judge.api_key or (os.environ.get(judge.api_key_env, "") if judge.api_key_env else "")
    return JudgeConfig(
        judge_id=judge.pk,
        name=judge.rater.name,
        kind=judge.kind,
        version=judge.version,
        config_hash=judge.config_hash(),
        mode=judge.mode,
        base_url=judge.base_url,
        model=judge.model,
        api_key=api_key,
        model_path=version.base_model if version else judge.model,
        adapter_path=(version.adapter_path if version else "") or "",
        template=judge.template,
        rubric=judge.rubric,
        constitution=tuple(str(p) for p in judge.constitution or ()),
        chain_of_thought=judge.chain_of_thought,
        sampling_params=dict(judge.sampling_params or {}),
        use_logprobs=judge.use_logprobs,
        inconsistency=judge.inconsistency,
        max_parse_retries=judge.max_parse_retries,
        max_retries=judge.max_retries,
        timeout_seconds=judge.timeout_seconds,
        concurrency=max(1, judge.concurrency),
        price_prompt_per_mtok=float(judge.price_prompt_per_mtok),
        price_completion_per_mtok=float(judge.price_completion_per_mtok),
    )
