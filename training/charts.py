"""A run's curves as a plotly figure: one panel per metric, training logs as lines, evaluations
as markers. Rendered as a <div> and a script; plotly.js itself is served locally by the admin
(PLOTLY_JS), never from a CDN.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from training.models import RunMetric, TrainingRun

# Bookkeeping and end-of-training summaries: one point each, nothing to draw a curve of.
SKIPPED = {
    "epoch",
    "step",
    "global_step",
    "total_flos",
    "num_tokens",
    "train_loss",
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "train_tokens",
    "train_tokens_per_second",
}
FIRST = ("loss", "accuracy", "rewards/margins", "rewards/accuracies", "grad_norm")
MAX_PANELS = 8
MAX_POINTS = 1500
SAFE_NAME = re.compile(r"^[\w./:-]{1,80}$")


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the plotly Python package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def metric_series(run: TrainingRun) -> dict[str, dict[str, tuple[list[int], list[float]]]]:
    """{metric: {"log" | "eval": (steps, values)}} in step order, numbers only."""
    series: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    points = RunMetric.objects.filter(run=run).order_by("step", "id")
    for kind, step, values in points.values_list("kind", "step", "values"):
        for name, value in (values or {}).items():
            if name in SKIPPED or not SAFE_NAME.match(name):
                continue
            if not isinstance(value, int | float) or not math.isfinite(value):
                continue
            steps, ys = series.setdefault(name, {}).setdefault(kind, ([], []))
            steps.append(step)
            ys.append(float(value))
    return series


def _order(names: list[str]) -> list[str]:
    ranked = [n for n in FIRST if n in names]
    return ranked + sorted(n for n in names if n not in ranked)


def _thin(steps: list[int], ys: list[float]) -> tuple[list[int], list[float]]:
    if len(steps) <= MAX_POINTS:
        return steps, ys
    every = math.ceil(len(steps) / MAX_POINTS)
    return steps[::every] + steps[-1:], ys[::every] + ys[-1:]


def run_chart_html(run: TrainingRun) -> str:
    """The figure as an HTML fragment, or "" when there is nothing to draw yet."""
    series = metric_series(run)
    if not series:
        return ""
    from plotly.subplots import make_subplots

    names = _order(list(series))[:MAX_PANELS]
    cols = 1 if len(names) == 1 else 2
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, horizontal_spacing=0.08)
    for i, name in enumerate(names):
        row, col = i // cols + 1, i % cols + 1
        for kind, (steps, ys) in series[name].items():
            xs, vs = _thin(steps, ys)
            fig.add_scatter(
                x=xs,
                y=vs,
                name=f"{name} ({'train' if kind == 'log' else 'eval'})",
                mode="lines" if kind == "log" and len(xs) > 1 else "markers",
                row=row,
                col=col,
            )
    fig.update_layout(
        height=240 * rows,
        margin={"l": 40, "r": 10, "t": 30, "b": 30},
        showlegend=False,
        template="none",
    )
    fig.update_xaxes(title_text="step", title_standoff=2)
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"run-{run.pk}-chart",
        config={"displayModeBar": False, "responsive": True},
    )
