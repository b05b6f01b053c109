"""K candidates per prompt: from the engine child (fake) or an OpenAI-compatible endpoint."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path

import pytest

from annotate.errors import ValidationError
from annotate.models import Comparison, ProjectMode, Response
from tests.factories import ProjectFactory, PromptFactory
from tests.training.support import fake_model_dir, policy, use_fake_engine
from training.models import JobStatus, ModelKind
from training.services.generation import generation_create
from training.tasks import execute_generation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    use_fake_engine(monkeypatch)


@pytest.fixture
def model(tmp_path: Path):
    return policy(fake_model_dir(tmp_path / "tiny"))


def test_the_engine_writes_k_candidates_per_prompt_and_pairwise_comparisons(model):
    project = ProjectFactory(mode=ProjectMode.PAIRWISE)
    prompts = [PromptFactory(project=project) for _ in range(3)]
    job = generation_create(project=project, model_version=model, k=3, params={"seed": 7})

    assert execute_generation(job.pk) == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert (job.responses_created, job.comparisons_created) == (9, 9)  # 3 pairs per prompt
    assert (job.step, job.total_steps) == (3, 3)
    response = Response.objects.filter(prompt=prompts[0]).first()
    assert response.model_version == model
    assert response.generation_params["seed"] == 7
    assert response.generation_params["temperature"] == 1.0
    assert response.generation_params["k"] == 3
    spec = json.loads((Path(job.out_dir) / "job.json").read_text())
    assert spec["kind"] == "generate" and spec["hyperparameters"]["num_return_sequences"] == 3


def test_generated_pairs_are_interleaved_across_prompts_in_queue_order(model):
    """The queue serves comparisons by id: a prompt's K(K-1)/2 new pairs must not come in a row."""
    project = ProjectFactory(mode=ProjectMode.PAIRWISE)
    prompts = [PromptFactory(project=project) for _ in range(3)]
    job = generation_create(project=project, model_version=model, k=3)
    assert execute_generation(job.pk) == JobStatus.SUCCEEDED
    order = list(
        Comparison.objects.filter(project=project).order_by("id").values_list("prompt", flat=True)
    )
    assert sorted(order) == sorted([p.pk for p in prompts] * 3)
    assert all(a != b for a, b in pairwise(order)), order


def test_a_ranking_project_gets_one_n_way_comparison_per_prompt(model):
    project = ProjectFactory(mode=ProjectMode.RANKING)
    chosen = [PromptFactory(project=project) for _ in range(2)]
    PromptFactory(project=project)  # not selected
    job = generation_create(project=project, model_version=model, k=4, prompts=chosen)
    execute_generation(job.pk)
    comparisons = Comparison.objects.filter(project=project)
    assert comparisons.count() == 2
    assert [c.items.count() for c in comparisons] == [4, 4]


def test_running_it_twice_adds_no_duplicate_responses(model):
    project = ProjectFactory()
    PromptFactory(project=project)
    for _ in range(2):
        execute_generation(generation_create(project=project, model_version=model, k=2).pk)
    assert Response.objects.count() == 2
    assert Comparison.objects.count() == 1


def test_bad_requests_are_refused_before_anything_runs(model, tmp_path):
    project = ProjectFactory()
    with pytest.raises(ValidationError, match="between 1 and 16"):
        generation_create(project=project, model_version=model, k=0)
    rm = policy(tmp_path, name="rm", kind=ModelKind.REWARD_MODEL)
    with pytest.raises(ValidationError, match="reward model"):
        generation_create(project=project, model_version=rm)
    other = PromptFactory()
    with pytest.raises(ValidationError, match="not in project"):
        generation_create(project=project, model_version=model, prompts=[other])
    empty = generation_create(project=project, model_version=model)
    assert empty.status == "failed" and "has no prompts" in empty.error


class FakeOpenAI(BaseHTTPRequestHandler):
    """/v1/chat/completions: the first call per prompt fails with 500, the rest answer slowly."""

    lock = threading.Lock()
    in_flight = 0
    max_in_flight = 0
    calls: list[dict] = []
    failed_once: set[str] = set()

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        question = body["messages"][-1]["content"]
        cls = type(self)
        with cls.lock:
            cls.calls.append(body)
            first = question not in cls.failed_once
            cls.failed_once.add(question)
            cls.in_flight += 1
            cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
        try:
            time.sleep(0.05)
            if first:
                return self._send(500, {"error": {"message": "overloaded"}})
            text = f"Reply to {question} with seed {body.get('seed')}"
            return self._send(200, _completion(body["model"], text))
        finally:
            with cls.lock:
                cls.in_flight -= 1

    def _send(self, code: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def _completion(model: str, text: str) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }


@pytest.fixture
def endpoint():
    FakeOpenAI.calls, FakeOpenAI.failed_once, FakeOpenAI.max_in_flight = [], set(), 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_an_endpoint_answers_with_retries_under_a_concurrency_limit(endpoint):
    project = ProjectFactory()
    prompts = [PromptFactory(project=project) for _ in range(4)]
    served = policy(Path("/unused"), name="served", endpoint=endpoint)
    served.base_model = "llama3"
    served.save()
    job = generation_create(
        project=project,
        model_version=served,
        k=2,
        params={"concurrency": 2, "seed": 10, "temperature": 0.7},
    )

    assert execute_generation(job.pk) == JobStatus.SUCCEEDED

    job.refresh_from_db()
    assert (job.responses_created, job.comparisons_created, job.step) == (8, 4, 4)
    assert FakeOpenAI.max_in_flight <= 2
    assert len(FakeOpenAI.calls) > 8  # the 500s were retried by the client
    assert {c["model"] for c in FakeOpenAI.calls} == {"llama3"}
    texts = sorted(Response.objects.filter(prompt=prompts[0]).values_list("text", flat=True))
    assert texts[0].endswith("seed 10") and texts[1].endswith("seed 11")  # one seed per sample
    response = Response.objects.filter(prompt=prompts[0]).first()
    assert response.model_version == served
    assert response.generation_params["temperature"] == 0.7
    assert response.generation_params["finish_reason"] == "stop"


def test_endpoint_pairs_are_interleaved_across_prompts_in_queue_order(endpoint, monkeypatch):
    """Prompts answered between two heartbeats are recorded together; here one beat at the end
    (a slow endpoint's batches hold fewer prompts, each batch interleaved)."""
    monkeypatch.setattr("training.services.generation.heartbeat_every", lambda: 60.0)
    project = ProjectFactory(mode=ProjectMode.PAIRWISE)
    for _ in range(3):
        PromptFactory(project=project)
    served = policy(Path("/unused"), name="served", endpoint=endpoint)
    job = generation_create(
        project=project, model_version=served, k=3, params={"concurrency": 8, "seed": 1}
    )
    assert execute_generation(job.pk) == JobStatus.SUCCEEDED
    order = list(
        Comparison.objects.filter(project=project).order_by("id").values_list("prompt", flat=True)
    )
    assert len(order) == 9
    assert all(a != b for a, b in pairwise(order)), order


def test_an_unreachable_endpoint_fails_the_job_with_the_reason():
    project = ProjectFactory()
    PromptFactory(project=project)
    served = policy(Path("/unused"), name="down", endpoint="http://127.0.0.1:9/v1")
    job = generation_create(
        project=project, model_version=served, k=2, params={"max_retries": 0, "timeout": 2}
    )
    assert execute_generation(job.pk) == JobStatus.FAILED
    job.refresh_from_db()
    assert "All 2 requests to http://127.0.0.1:9/v1 failed" in job.error
    assert "Connection error" in job.error
