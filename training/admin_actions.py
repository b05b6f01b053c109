"""Admin actions that start training runs, each with a form page (generation: admin_generate).

Wire into annotate's admin (annotate/admin.py):
- ProjectAdmin.actions += TRAINING_ACTIONS
- DatasetSnapshotAdmin.actions += TRAINING_ACTIONS

On a project, a run trains on a snapshot of that project chosen in the form, or on one exported
there and then from its votes; runs that only read prompts (PPO, GRPO, RLOO, rejection sampling)
sample the project's own prompts when no snapshot is chosen. One run or job per selected object;
with a single one the admin lands on its live page.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages

from annotate.errors import ValidationError
from annotate.models import DatasetSnapshot, Project, SnapshotKind
from annotate.services.export import ExportOptions, export_judges, snapshot_export
from annotate.services.export.gate import judge_notes
from judges.models import Judge, JudgeKind
from training.admin_common import form_page, policies, report
from training.models import ONLINE_KINDS, PROMPT_KINDS, Method, ModelKind, ModelVersion, RunKind
from training.services import preflight
from training.services.defaults import hyperparameter_help, hyperparameters_for
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
# The platform always hands the engine its own held-out split, so say what the field does here.
HELP_OVERRIDES = {
    "eval_fraction": "Share of the snapshot's prompts held out (whole prompts, never trained on) "
    "to evaluate the new model with. 0 disables its evaluation.",
}
EXPORT_KIND = {RunKind.SFT: SnapshotKind.SFT}


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
        self.fields["base"].queryset = policies()
        if projects is None:
            del self.fields["snapshot"]
        else:
            allowed = (
                ("sft", "preference") if kind in (RunKind.SFT, *PROMPT_KINDS) else ("preference",)
            )
            self.fields["snapshot"].queryset = DatasetSnapshot.objects.filter(
                project__in=projects, kind__in=allowed
            )
            if kind in PROMPT_KINDS:
                self.fields[
                    "snapshot"
                ].help_text = "Its prompts are sampled from. Empty: every prompt of the project."
        if kind in (RunKind.DPO, *PROMPT_KINDS):
            self.fields["reward_model"].queryset = ModelVersion.objects.filter(
                kind=ModelKind.REWARD_MODEL
            )
            if kind in PROMPT_KINDS:
                self.fields["reward_model"].required = kind not in ONLINE_KINDS
                self.fields["reward_model"].help_text = (
                    "Scores the sampled completions (the reward), then the new policy against "
                    "its parent on held-out prompts."
                    if kind != RunKind.REJECTION_SAMPLING
                    else "Ranks the K completions of each prompt."
                )
        else:
            del self.fields["reward_model"]
        if kind in ONLINE_KINDS:
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
        if self.kind in ONLINE_KINDS and not (data.get("reward_model") or data.get("reward_judge")):
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
        try:
            preflight.request_check(
                method=data.get("method") or Method.FULL,
                seed=data.get("seed", 0),
                accelerate_config=data.get("accelerate_config") or "",
            )
        except ValidationError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        data["overrides"] = overrides
        return data


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
            return report(modeladmin, request, runs, f"{RunKind(kind).label} run(s)")
        _warn_judge_votes_ahead(modeladmin, request, queryset, kind, on_projects)
        label = RunKind(kind).label
        return form_page(
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


def _warn_judge_votes_ahead(modeladmin, request, queryset, kind: str, on_projects: bool) -> None:
    """On the form, before anything trains: whose AI-judge votes the data holds or will hold."""
    for obj in queryset:
        if on_projects:
            if kind in PROMPT_KINDS:
                continue
            options = ExportOptions(kind=EXPORT_KIND.get(kind, SnapshotKind.PREFERENCE))
            notes = judge_notes(record=export_judges(project=obj, options=options).record)
            prefix = f"{obj}: the export made for this run will hold these AI-judge votes"
        else:
            notes = _snapshot_judge_notes(obj)
            prefix = f"Snapshot '{obj.name}'"
        for note in notes:
            modeladmin.message_user(request, f"{prefix}: {note}", messages.WARNING)


def _snapshot_judge_notes(snapshot: DatasetSnapshot) -> list[str]:
    filters = snapshot.filters or {}
    pre_gate = "judge_votes" in filters and "judge_admission" not in filters
    if pre_gate and filters["judge_votes"] != "exclude":
        return [
            "exported before the judge admission gate: AI-judge votes in it, if any, counted "
            "whatever the judge's agreement with people."
        ]
    return judge_notes(record=filters.get("judge_gate", {}), counts=snapshot.counts)


def _start_runs(modeladmin, request, queryset, form: TrainingForm, kind: str, on_projects: bool):
    data = form.cleaned_data
    runs = []
    for obj in queryset:
        project = obj if on_projects else obj.project
        if on_projects and kind in PROMPT_KINDS and data.get("snapshot") is None:
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
        snapshot = snapshot_export(project=project, options=options, user=request.user)
    except ValidationError as exc:
        modeladmin.message_user(
            request, f"{project}: nothing to train on: {exc.message}", messages.WARNING
        )
        return None
    for note in _snapshot_judge_notes(snapshot):
        modeladmin.message_user(
            request, f"{project}: exported snapshot '{snapshot.name}': {note}", messages.WARNING
        )
    return snapshot


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
