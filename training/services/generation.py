"""K candidate responses per prompt from a model version, then comparisons to judge.

Two backends, chosen by the model version: a local model (transformers, in an engine "generate"
child process, so the worker never loads torch) or, when the version has an `endpoint`, any
OpenAI-compatible server through the `openai` client, with a concurrency limit and retries.
Each Response records its ModelVersion and sampling parameters; identical texts of one prompt
are one Response; Comparisons follow the project's mode (every pair, or one N-way ranking).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from annotate.errors import ValidationError
from annotate.models import Comparison, Project, Prompt
from annotate.services.comparisons import comparison_create, comparisons_create_many
from annotate.services.projects import response_create
from training.engine.config import config_for
from training.engine.jobs import EngineError, JobSpec, ModelRef
from training.models import (
    GenerationBackend,
    GenerationJob,
    JobStatus,
    ModelKind,
    ModelVersion,
    Round,
)
from training.services import preflight
from training.services.execution import (
    JobConfigError,
    Recorder,
    heartbeat_every,
    job_claim,
    job_control,
    job_execute,
    job_finish,
    owned,
)
from training.services.rounds import round_current

logger = logging.getLogger(__name__)

PROMPTS_FILE = "prompts.jsonl"
DEFAULT_PARAMS: dict[str, Any] = {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 128}
ENDPOINT_DEFAULTS: dict[str, Any] = {"concurrency": 4, "max_retries": 3, "timeout": 60.0}
MAX_K = 16


def generation_create(
    *,
    project: Project,
    model_version: ModelVersion,
    k: int = 2,
    prompts: Iterable[Prompt] | None = None,
    params: dict[str, Any] | None = None,
    user=None,
    accelerate_config: str = "",
    enqueue: bool = True,
    round: Round | None = None,
    pair_with: ModelVersion | None = None,
) -> GenerationJob:
    """A queued generation job, or a failed one saying why it cannot start (`enqueue=False`:
    the caller runs it with `generation_execute`).

    `pair_with`: each new response is also compared with the same prompt's responses from that
    version (one pair each, whatever the project's mode): head to head, new policy against old.
    `round` defaults to the project's current round."""
    if pair_with is not None and pair_with.pk == model_version.pk:
        raise ValidationError("a version cannot be paired with itself", field="pair_with")
    if round is None:
        round = round_current(project=project)
    if not 1 <= int(k) <= MAX_K:
        raise ValidationError(f"must be between 1 and {MAX_K}", field="k")
    if params is not None and not isinstance(params, dict):
        raise ValidationError("must be an object of {name: value}", field="params")
    if model_version.kind == ModelKind.REWARD_MODEL:
        raise ValidationError(
            f"model version '{model_version}' is a reward model: it scores, it does not write",
            field="model_version",
        )
    prompt_ids = sorted({p.pk for p in prompts}) if prompts is not None else []
    foreign = [p.pk for p in prompts or [] if p.project_id != project.pk]
    if foreign:
        raise ValidationError(
            f"prompts {foreign} are not in project {project.slug!r}", field="prompts"
        )
    backend = GenerationBackend.ENDPOINT if model_version.endpoint else GenerationBackend.ENGINE
    merged = _checked_params(backend, int(k), params or {})
    with transaction.atomic():
        job = GenerationJob.objects.create(
            project=project,
            model_version=model_version,
            backend=backend,
            prompt_ids=prompt_ids,
            k=int(k),
            params=merged,
            created_by=user if getattr(user, "pk", None) else None,
            accelerate_config=accelerate_config,
            round=round,
            pair_with=pair_with,
        )
        job.out_dir = str(
            Path(settings.DATA_DIR) / "generations" / f"{job.pk}-{uuid.uuid4().hex[:6]}"
        )
        job.save(update_fields=["out_dir"])
        problem = _problem(job)
        if problem:
            job.status, job.error, job.finished_at = JobStatus.FAILED, problem, timezone.now()
            job.save(update_fields=["status", "error", "finished_at"])
        elif enqueue:
            enqueue_generation(job)
    return job


def _checked_params(backend: str, k: int, params: dict[str, Any]) -> dict[str, Any]:
    """Sampling parameters with their defaults; unknown names are refused, naming the known."""
    if backend == GenerationBackend.ENDPOINT:
        merged = {**DEFAULT_PARAMS, **ENDPOINT_DEFAULTS, **params}
        unknown = sorted(set(merged) - {*DEFAULT_PARAMS, *ENDPOINT_DEFAULTS, "seed"})
        if unknown:
            raise ValidationError(
                f"unknown parameter(s) {unknown} for an endpoint; known: temperature, top_p, "
                "max_new_tokens, seed, concurrency, max_retries, timeout",
                field="params",
            )
        return merged
    merged = {**DEFAULT_PARAMS, **params}
    try:
        config_for("generate", {**merged, "num_return_sequences": k})
    except EngineError as exc:
        raise ValidationError(str(exc), field="params") from None
    return merged


def _problem(job: GenerationJob) -> str | None:
    if not _prompts(job).exists():
        return f"Project '{job.project}' has no prompts to answer (import some first)."
    if job.backend == GenerationBackend.ENGINE:
        _, missing = preflight.model_config(job.model_version)
        return missing
    return None


def enqueue_generation(job: GenerationJob) -> None:
    pk = job.pk
    transaction.on_commit(
        lambda: async_task(
            "training.tasks.execute_generation",
            pk,
            task_name=f"generation-{pk}",
            group="generation",
        )
    )


def generation_cancel(*, job: GenerationJob) -> GenerationJob:
    now = timezone.now()
    if not GenerationJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, cancel_requested=True, finished_at=now
    ) and not GenerationJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        cancel_requested=True
    ):
        job.refresh_from_db()
        raise ValidationError(f"generation job {job.pk} is already {job.status}", field="status")
    job.refresh_from_db()
    return job


def _prompts(job: GenerationJob):
    prompts = Prompt.objects.filter(project=job.project).order_by("id")
    return prompts.filter(pk__in=job.prompt_ids) if job.prompt_ids else prompts


def generation_execute(*, job_id: int) -> str:
    backend = GenerationJob.objects.filter(pk=job_id).values_list("backend", flat=True).first()
    if backend == GenerationBackend.ENDPOINT:
        return _execute_endpoint(job_id)
    return job_execute(GenerationJob, job_id, prepare=_prepare_engine, on_success=_ingest_engine)


def candidates_record_many(
    *, job: GenerationJob, samples: dict[Prompt, list[tuple[str, dict[str, Any]]]]
) -> tuple[int, int]:
    """Responses for each prompt's samples, then all their comparisons in one call, so the new
    pairs are interleaved across prompts in queue order: (new responses, new comparisons)."""
    created = 0
    groups: list[tuple[Prompt, list]] = []
    for prompt, items in samples.items():
        responses: list = []
        for text, extra in items:
            if not text.strip():
                continue
            response, is_new = response_create(
                prompt=prompt,
                text=text,
                source=f"generation job {job.pk}",
                generation_params={**job.params, **extra, "k": job.k, "job": job.pk},
                model_version=job.model_version,
            )
            created += is_new
            if response not in responses:
                responses.append(response)
        groups.append((prompt, responses))
    comparisons = comparisons_create_many(project=job.project, groups=groups)
    compared = len({c.pk for c in comparisons if c.created})
    if job.pair_with_id:
        for prompt, responses in groups:
            before = set(Comparison.objects.filter(prompt=prompt).values_list("id", flat=True))
            made = _head_to_head(job, prompt, responses)
            compared += len({c.pk for c in made if c.pk not in before})
    return created, compared


def _head_to_head(job: GenerationJob, prompt: Prompt, responses: list) -> list[Comparison]:
    """Each new response against each of the prompt's answers from job.pair_with (the same text
    from both versions is one Response: nothing to compare). The order alternates with the
    prompt so neither version always sits first; raters see a counterbalanced order anyway."""
    theirs = list(prompt.responses.filter(model_version_id=job.pair_with_id).order_by("pk"))
    made = []
    for mine in responses:
        if mine.model_version_id != job.model_version_id:
            continue  # an answer the other version gave first: not this version's
        for other in theirs:
            pair = [mine, other] if (prompt.pk + other.pk) % 2 else [other, mine]
            made.append(comparison_create(project=job.project, prompt=prompt, responses=pair)[0])
    return made


# --- engine backend -------------------------------------------------------------------------


def _prepare_engine(job: GenerationJob) -> tuple[JobSpec, Recorder]:
    _, missing = preflight.model_config(job.model_version)
    if missing:
        raise JobConfigError(missing)
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prompts_file = out_dir / PROMPTS_FILE
    with prompts_file.open("w", encoding="utf-8") as fh:
        for prompt in _prompts(job):
            fh.write(json.dumps({"prompt_id": prompt.pk, "prompt": prompt.messages}) + "\n")
    params = dict(job.params)
    spec = JobSpec(
        kind="generate",
        out_dir=str(out_dir),
        model=ModelRef(**job.model_version.as_model_ref()),
        train_file=str(prompts_file),
        hyperparameters={"num_return_sequences": job.k, **params},
        seed=int(params.get("seed", 0) or 0),
    )
    return spec, Recorder(job)


def _ingest_engine(job: GenerationJob, recorder: Recorder) -> None:
    data_file = (job.outputs or {}).get("data_file")
    if not data_file or not Path(data_file).is_file():
        raise ValueError(f"the engine reported no generated data file ({data_file!r})")
    samples = _samples_by_prompt(Path(data_file))
    prompts = {p.pk: p for p in _prompts(job)}
    created, compared = candidates_record_many(
        job=job, samples={prompts[pid]: items for pid, items in samples.items() if pid in prompts}
    )
    job.responses_created, job.comparisons_created = created, compared
    GenerationJob.objects.filter(pk=job.pk).update(
        responses_created=created, comparisons_created=compared
    )


def _samples_by_prompt(path: Path) -> dict[int, list[tuple[str, dict]]]:
    """Rows {"prompt_id", "completion" | "completions", ...} grouped by prompt."""
    grouped: dict[int, list[tuple[str, dict]]] = defaultdict(list)
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            texts = row.get("completions") or [row.get("completion", "")]
            extra = {k: v for k, v in row.items() if k in ("finish_reason", "num_tokens", "seed")}
            for i, text in enumerate(texts):
                sample = row.get("sample", i) if len(texts) == 1 else i
                grouped[int(row["prompt_id"])].append((_text(text), {**extra, "sample": sample}))
    return grouped


def _text(value: Any) -> str:
    """A completion as text, whether a string or a conversational [{"role", "content"}]."""
    if isinstance(value, list):
        return "".join(str(m.get("content", "")) for m in value if isinstance(m, dict))
    return str(value)


# --- OpenAI-compatible endpoint backend -----------------------------------------------------


def _client(job: GenerationJob):
    from openai import OpenAI  # only the worker pays for importing it

    return OpenAI(
        base_url=job.model_version.endpoint,
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        max_retries=int(job.params.get("max_retries", 3)),
        timeout=float(job.params.get("timeout", 60.0)),
    )


def _complete(
    client, model: str, params: dict, messages: list[dict], sample: int
) -> tuple[str, dict]:
    """One chat completion, in a pool thread: no database access here."""
    seed = params.get("seed")
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "temperature": params.get("temperature", 1.0),
        "top_p": params.get("top_p", 1.0),
        "max_tokens": params.get("max_new_tokens", 128),
    }
    if seed is not None:
        kwargs["seed"] = int(seed) + sample  # the same seed would give K identical samples
    reply = client.chat.completions.create(**kwargs)
    choice = reply.choices[0]
    extra = {"sample": sample, "finish_reason": choice.finish_reason}
    if getattr(reply, "usage", None):
        extra["num_tokens"] = reply.usage.completion_tokens
    return choice.message.content or "", extra


def _execute_endpoint(job_id: int) -> str:
    job = job_claim(GenerationJob, job_id)
    if job is None:
        return "skipped"
    try:
        return _generate_from_endpoint(job)
    except BaseException as exc:
        job_finish(job, status=JobStatus.FAILED, error=f"Generation stopped: {exc}")
        raise


def _generate_from_endpoint(job: GenerationJob) -> str:
    prompts = list(_prompts(job))
    job.total_steps, job.step = len(prompts), 0
    owned(job).update(total_steps=job.total_steps, step=0)
    client = _client(job)
    model = job.model_version.base_model
    results: dict[int, list[tuple[str, dict]]] = defaultdict(list)
    ready: dict[Prompt, list[tuple[str, dict]]] = {}
    failures: list[str] = []
    by_id = {p.pk: p for p in prompts}
    concurrency = max(1, int(job.params.get("concurrency", 4)))
    last_beat, verdict = time.monotonic(), "continue"
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"generation-{job.pk}")
    try:
        pending: dict[Future, tuple[int, int]] = {
            pool.submit(_complete, client, model, dict(job.params), p.messages, i): (p.pk, i)
            for p in prompts
            for i in range(job.k)
        }
        answered: dict[int, int] = defaultdict(int)
        while pending and verdict == "continue":
            done, _ = wait(pending, timeout=heartbeat_every(), return_when=FIRST_COMPLETED)
            for future in done:
                prompt_id, sample = pending.pop(future)
                try:
                    results[prompt_id].append(future.result())
                except Exception as exc:  # noqa: BLE001 - counted and reported on the job
                    failures.append(f"prompt {prompt_id} sample {sample}: {exc}")
                answered[prompt_id] += 1
                if answered[prompt_id] == job.k:
                    ready[by_id[prompt_id]] = results.pop(prompt_id, [])
            if time.monotonic() - last_beat >= heartbeat_every() or not pending:
                # Recorded together at each beat, so each batch's pairs are interleaved across
                # prompts in queue order; what is answered is kept at every beat, cancel included.
                _record_prompts(job, ready)
                last_beat = time.monotonic()
                verdict = _beat(job)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a cancel does not wait on requests
    if verdict == "superseded":
        return "superseded"
    if verdict == "cancel":
        job_finish(job, status=JobStatus.CANCELLED, fields=_FIELDS)
        return JobStatus.CANCELLED
    total = len(prompts) * job.k
    if failures and len(failures) == total:
        job_finish(
            job,
            status=JobStatus.FAILED,
            error=f"All {total} requests to {job.model_version.endpoint} failed; the first: "
            f"{failures[0]}",
            fields=_FIELDS,
        )
        return JobStatus.FAILED
    if failures:
        job.warnings = [
            *job.warnings,
            f"{len(failures)} of {total} requests failed after retries; the first: {failures[0]}",
        ]
    job_finish(job, status=JobStatus.SUCCEEDED, fields=_FIELDS)
    return JobStatus.SUCCEEDED


_FIELDS = ("step", "total_steps", "warnings", "responses_created", "comparisons_created")


def _record_prompts(job: GenerationJob, ready: dict[Prompt, list[tuple[str, dict]]]) -> None:
    """Record the prompts whose K samples are all in, then forget them."""
    if not ready:
        return
    for samples in ready.values():
        samples.sort(key=lambda s: s[1].get("sample", 0))
    with transaction.atomic():
        created, compared = candidates_record_many(job=job, samples=ready)
    job.responses_created += created
    job.comparisons_created += compared
    job.step += len(ready)
    ready.clear()


def _beat(job: GenerationJob) -> str:
    job.heartbeat_at = timezone.now()
    if not owned(job).update(
        heartbeat_at=job.heartbeat_at, **{f: getattr(job, f) for f in _FIELDS}
    ):
        return "superseded"
    return job_control(job)
