"""Admin actions that start training runs and candidate generation, each with a form page.

Wire into annotate's admin (annotate/admin.py):
- ProjectAdmin.actions += [*TRAINING_ACTIONS, generate_candidates]
- DatasetSnapshotAdmin.actions += TRAINING_ACTIONS
- PromptAdmin.actions += [generate_candidates]

On a project, a run trains on a snapshot of that project chosen in the form, or on one exported
there and then from its votes; runs that only read prompts (PPO, GRPO, RLOO, rejection sampling)
sample the project's own prompts when no snapshot is chosen. One run or job per selected object;
with a single one the admin lands on its live page.
"""

from __future__ import annotations

from collections import defaultdict

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from annotate.errors import ValidationError
from annotate.models import DatasetSnapshot, Project, Prompt, SnapshotKind
from annotate.services.export import ExportOptions, snapshot_export
from judges.models import Judge, JudgeKind
from training.models import EngineJob, Method, ModelKind, ModelVersion, RunKind
from training.services.defaults import hyperparameter_help, hyperparameters_for
from training.services.generation import MAX_K, generation_create
from training.services.runs import run_create

COMMON_FIELDS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "max_length",
    "eval_fraction",
    "lora_r",
)
KIND_FIELDS = {
    RunKind.DPO: ("beta", "loss_type"),
    RunKind.PPO: ("max_new_tokens", "kl_coef", "kl_controller", "num_ppo_epochs"),
    RunKind.GRPO: ("max_new_tokens", "num_generations", "beta"),
    RunKind.RLOO: ("max_new_tokens", "num_generations", "beta"),
    RunKind.REJECTION_SAMPLING: (
        "num_return_sequences",
        "temperature",
        "max_new_tokens",
        "min_margin",
    ),
}
# Runs whose reward model scores while they run (not only in the evaluation afterwards).
NEEDS_REWARD_MODEL = (RunKind.PPO, RunKind.GRPO, RunKind.RLOO, RunKind.REJECTION_SAMPLING)
PROMPTS_ONLY = NEEDS_REWARD_MODEL
JUDGE_REWARDED = (RunKind.PPO, RunKind.GRPO, RunKind.RLOO)
# The platform always hands the engine its own held-out split, so say what the field does here.
HELP_OVERRIDES = {
    "eval_fraction": "Share of the snapshot's prompts held out (whole prompts, never trained on) "
    "to evaluate the new model with. 0 disables its evaluation.",
}
EXPORT_KIND = {RunKind.SFT: SnapshotKind.SFT}


def _policies():
    return ModelVersion.objects.filter(kind=ModelKind.POLICY)


def _typed_field(spec: dict) -> forms.Field:
    """A form field for one engine hyperparameter; empty keeps the engine's default."""
    kind, default = spec["type"], spec["default"]
    if "float" in kind:
        field_class = forms.FloatField
    elif kind.startswith("int"):
        field_class = forms.IntegerField
    else:
        field_class = forms.CharField
    field = field_class(required=False, help_text=HELP_OVERRIDES.get(spec["name"], spec["help"]))
    field.widget.attrs["placeholder"] = "" if default is None else str(default)
    return field


class TrainingForm(forms.Form):
    base = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        help_text="The policy to start from (a reward model starts from its weights, too).",
    )
    method = forms.ChoiceField(choices=Method.choices, initial=Method.FULL)
    snapshot = forms.ModelChoiceField(
        queryset=DatasetSnapshot.objects.none(),
        required=False,
        help_text="Empty: export a fresh snapshot of each project's votes now.",
    )
    reward_model = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        required=False,
        help_text="Scores the new policy against its parent on held-out prompts (win rate, KL).",
    )
    reward_judge = forms.ModelChoiceField(
        queryset=Judge.objects.none(),
        required=False,
        label="Or reward judge (RLAIF)",
        help_text="An AI judge on an OpenAI-compatible endpoint scores each completion 1-10 "
        "(scaled to [-1, 1]) instead of the reward model. With both, the judge rewards and the "
        "reward model evaluates.",
    )
    other = forms.JSONField(
        required=False,
        initial=dict,
        label="Other hyperparameters",
        help_text='Any other field listed below, as JSON: {"warmup_steps": 10}.',
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )
    seed = forms.IntegerField(initial=0)
    accelerate_config = forms.CharField(
        required=False,
        max_length=500,
        help_text="An accelerate config file for several GPUs (default: the ACCELERATE_CONFIG "
        "setting; empty runs one process).",
    )

    def __init__(self, *args, kind: str, projects: list[Project] | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.fields["base"].queryset = _policies()
        if projects is None:
            del self.fields["snapshot"]
        else:
            allowed = (
                ("sft", "preference") if kind in (RunKind.SFT, *PROMPTS_ONLY) else ("preference",)
            )
            self.fields["snapshot"].queryset = DatasetSnapshot.objects.filter(
                project__in=projects, kind__in=allowed
            )
            if kind in PROMPTS_ONLY:
                self.fields[
                    "snapshot"
                ].help_text = "Its prompts are sampled from. Empty: every prompt of the project."
        if kind in (RunKind.DPO, *NEEDS_REWARD_MODEL):
            self.fields["reward_model"].queryset = ModelVersion.objects.filter(
                kind=ModelKind.REWARD_MODEL
            )
            if kind in NEEDS_REWARD_MODEL:
                self.fields["reward_model"].required = kind not in JUDGE_REWARDED
                self.fields["reward_model"].help_text = (
                    "Scores the sampled completions (the reward), then the new policy against "
                    "its parent on held-out prompts."
                    if kind != RunKind.REJECTION_SAMPLING
                    else "Ranks the K completions of each prompt."
                )
        else:
            del self.fields["reward_model"]
        if kind in JUDGE_REWARDED:
            self.fields["reward_judge"].queryset = Judge.objects.filter(kind=JudgeKind.OPENAI)
        else:
            del self.fields["reward_judge"]
        if kind == RunKind.REJECTION_SAMPLING:
            del self.fields["method"]  # it samples, it trains nothing
            self.fields["base"].help_text = "The policy that samples the K completions."
        help_by_name = {h["name"]: h for h in hyperparameter_help(kind)}
        self.hyperparameter_names = [
            n for n in (*COMMON_FIELDS, *KIND_FIELDS.get(kind, ())) if n in help_by_name
        ]
        for name in self.hyperparameter_names:
            self.fields[name] = _typed_field(help_by_name[name])
        self.order_fields(
            [
                "base",
                "method",
                "snapshot",
                "reward_model",
                "reward_judge",
                *self.hyperparameter_names,
                "other",
            ]
        )
        self.hyperparameter_help = list(help_by_name.values())

    def clean(self) -> dict:
        data = super().clean()
        if self.kind in JUDGE_REWARDED and not (
            data.get("reward_model") or data.get("reward_judge")
        ):
            self.add_error("reward_model", "Choose a reward model or a reward judge.")
        other = data.get("other") or {}
        if not isinstance(other, dict):
            self.add_error("other", 'Give an object such as {"warmup_steps": 10}.')
            return data
        overrides = {**other}
        for name in self.hyperparameter_names:
            if data.get(name) not in (None, ""):
                overrides[name] = data[name]
        try:
            hyperparameters_for(self.kind, overrides)
        except ValidationError as exc:
            self.add_error(None, exc.message)
        data["overrides"] = overrides
        return data


def _form_page(modeladmin, request, queryset, form, *, title: str, action: str, intro: str):
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "opts": modeladmin.model._meta,
        "form": form,
        "queryset": queryset,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action_name": action,
        "hyperparameter_help": getattr(form, "hyperparameter_help", []),
    }
    return TemplateResponse(request, "admin/training/action_form.html", context)


def _links(jobs: list[EngineJob]):
    return format_html_join(
        ", ", '<a href="{}">{}</a>', ((job.get_absolute_url(), str(job)) for job in jobs)
    )


def _report(modeladmin, request, jobs: list[EngineJob], what: str):
    if not jobs:
        return None
    failed = [j for j in jobs if j.status == "failed"]
    if failed:
        modeladmin.message_user(
            request,
            format_html("{} could not start (see why on its page): {}", what, _links(failed)),
            messages.ERROR,
        )
    started = [j for j in jobs if j.status != "failed"]
    if started:
        modeladmin.message_user(
            request, format_html("{} started: {}", what, _links(started)), messages.SUCCESS
        )
    if len(jobs) == 1:
        return HttpResponseRedirect(jobs[0].get_absolute_url())
    return None


def _training_action(kind: str, description: str, name: str):
    def action(modeladmin, request, queryset):
        if not request.user.has_perm("training.add_trainingrun"):
            modeladmin.message_user(request, "You may not start training runs.", messages.ERROR)
            return None
        on_projects = queryset.model is Project
        form = TrainingForm(
            request.POST if "apply" in request.POST else None,
            kind=kind,
            projects=list(queryset) if on_projects else None,
        )
        if form.is_bound and form.is_valid():
            runs = _start_runs(modeladmin, request, queryset, form, kind, on_projects)
            return _report(modeladmin, request, runs, f"{RunKind(kind).label} run(s)")
        label = RunKind(kind).label
        return _form_page(
            modeladmin,
            request,
            queryset,
            form,
            title=description,
            action=name,
            intro=f"One {label} run per selected {queryset.model._meta.verbose_name}. Empty "
            "hyperparameters keep the engine's defaults (shown greyed).",
        )

    action.__name__ = name
    action.short_description = description
    return action


def _start_runs(modeladmin, request, queryset, form: TrainingForm, kind: str, on_projects: bool):
    data = form.cleaned_data
    runs = []
    for obj in queryset:
        project = obj if on_projects else obj.project
        if on_projects and kind in PROMPTS_ONLY and data.get("snapshot") is None:
            snapshot = None  # the project's prompts
        elif on_projects:
            snapshot = _snapshot_for(modeladmin, request, obj, data, kind)
            if snapshot is None:
                continue
        else:
            snapshot = obj
        runs.append(
            run_create(
                kind=kind,
                base=data["base"],
                snapshot=snapshot,
                project=project,
                method=data.get("method") or Method.FULL,
                hyperparameters=data["overrides"],
                reward_model=data.get("reward_model"),
                reward_judge=data.get("reward_judge"),
                seed=data["seed"],
                user=request.user,
                accelerate_config=data.get("accelerate_config") or "",
            )
        )
    return runs


def _snapshot_for(modeladmin, request, project: Project, data: dict, kind: str):
    chosen = data.get("snapshot")
    if chosen is not None:
        if chosen.project_id == project.pk:
            return chosen
        modeladmin.message_user(
            request,
            f"{project}: snapshot '{chosen.name}' belongs to another project; skipped.",
            messages.WARNING,
        )
        return None
    options = ExportOptions(kind=EXPORT_KIND.get(kind, SnapshotKind.PREFERENCE))
    try:
        return snapshot_export(project=project, options=options, user=request.user)
    except ValidationError as exc:
        modeladmin.message_user(
            request, f"{project}: nothing to train on: {exc.message}", messages.WARNING
        )
        return None


train_reward_model = _training_action(
    RunKind.REWARD_MODEL, "Train reward model", "train_reward_model"
)
run_sft = _training_action(RunKind.SFT, "Run SFT", "run_sft")
run_dpo = _training_action(RunKind.DPO, "Run DPO", "run_dpo")
run_ppo = _training_action(RunKind.PPO, "Run PPO (online RL with a reward model)", "run_ppo")
run_grpo = _training_action(RunKind.GRPO, "Run GRPO (online RL with a reward model)", "run_grpo")
run_rloo = _training_action(RunKind.RLOO, "Run RLOO (online RL with a reward model)", "run_rloo")
run_rejection_sampling = _training_action(
    RunKind.REJECTION_SAMPLING,
    "Rejection sampling (best-of-K datasets)",
    "run_rejection_sampling",
)
TRAINING_ACTIONS = [
    train_reward_model,
    run_sft,
    run_dpo,
    run_ppo,
    run_grpo,
    run_rloo,
    run_rejection_sampling,
]


class GenerateForm(forms.Form):
    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        help_text="A local policy (sampled with transformers in a child process) or one served "
        "by an OpenAI-compatible endpoint.",
    )
    k = forms.IntegerField(
        label="K", min_value=1, max_value=MAX_K, initial=4, help_text="Candidates per prompt."
    )
    temperature = forms.FloatField(min_value=0.0, initial=1.0)
    top_p = forms.FloatField(min_value=0.0, max_value=1.0, initial=1.0)
    max_new_tokens = forms.IntegerField(min_value=1, initial=128)
    seed = forms.IntegerField(required=False, help_text="Empty: the job's default seed.")
    concurrency = forms.IntegerField(
        required=False, min_value=1, help_text="Endpoints only: requests in flight at once."
    )
    pair_with = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        required=False,
        label="Head to head with",
        help_text="Also compare each new response with this version's answers to the same "
        "prompt (e.g. the parent policy), for raters and judges to pick the better model.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model_version"].queryset = _policies()
        self.fields["pair_with"].queryset = _policies()

    def clean(self) -> dict:
        data = super().clean()
        if data.get("pair_with") and data.get("pair_with") == data.get("model_version"):
            self.add_error("pair_with", "Choose another version than the one generating.")
        return data

    def params(self) -> dict:
        data = self.cleaned_data
        params = {k: data[k] for k in ("temperature", "top_p", "max_new_tokens")}
        if data.get("seed") is not None:
            params["seed"] = data["seed"]
        if data.get("concurrency") and data["model_version"].endpoint:
            params["concurrency"] = data["concurrency"]
        return params


def generate_candidates(modeladmin, request, queryset):
    """K responses per prompt from a model version; comparisons follow each project's mode."""
    if not request.user.has_perm("training.add_generationjob"):
        modeladmin.message_user(request, "You may not start generation jobs.", messages.ERROR)
        return None
    form = GenerateForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        jobs = []
        for project, prompts in _prompts_by_project(queryset).items():
            try:
                jobs.append(
                    generation_create(
                        project=project,
                        model_version=form.cleaned_data["model_version"],
                        k=form.cleaned_data["k"],
                        prompts=prompts,
                        params=form.params(),
                        user=request.user,
                        pair_with=form.cleaned_data.get("pair_with"),
                    )
                )
            except ValidationError as exc:
                modeladmin.message_user(request, f"{project}: {exc}", messages.ERROR)
        return _report(modeladmin, request, jobs, "Generation job(s)")
    return _form_page(
        modeladmin,
        request,
        queryset,
        form,
        title="Generate K candidates",
        action="generate_candidates",
        intro="K responses per prompt, recorded with the model version and sampling parameters; "
        "comparisons follow each project's mode (every pair, or one N-way ranking).",
    )


generate_candidates.short_description = "Generate K candidates"


def _prompts_by_project(queryset) -> dict[Project, list[Prompt] | None]:
    if queryset.model is Project:
        return {project: None for project in queryset}
    grouped: dict[Project, list[Prompt]] = defaultdict(list)
    for prompt in queryset.select_related("project"):
        grouped[prompt.project].append(prompt)
    return dict(grouped)
