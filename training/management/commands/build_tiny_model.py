"""Build the tiny offline base model, and optionally register it as a ModelVersion."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from training.engine.corpus import default_corpus
from training.engine.tiny import (
    TinyModelConfig,
    build_fingerprint,
    build_summary,
    build_tiny_model,
    is_up_to_date,
    read_corpus_files,
)
from training.models import ModelKind, ModelVersion

MODEL_NAME = "tiny-llama"


class Command(BaseCommand):
    help = (
        "Train a byte-level BPE tokenizer and a tiny Llama chat model on a corpus, offline, and save "
        "them as a Hugging Face model directory. Skips the build when the directory already holds "
        "one with the same config and corpus."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--out",
            type=Path,
            help="Model directory (default: <PS_DATA_DIR>/models/tiny-llama).",
        )
        parser.add_argument(
            "--corpus",
            type=Path,
            nargs="+",
            action="extend",
            metavar="FILE",
            help="UTF-8 text files of documents separated by blank lines, each a conversation in "
            "'User:' / 'Assistant:' / 'System:' lines (default: the built-in corpus).",
        )
        parser.add_argument("--steps", type=int, help="Pre-training steps (default: the config's).")
        parser.add_argument(
            "--register",
            action="store_true",
            help=f"Create or update the policy ModelVersion '{MODEL_NAME}' pointing at the directory.",
        )
        parser.add_argument("--force", action="store_true", help="Rebuild even when up to date.")

    def handle(self, *args, **options) -> None:
        # call_command passes options through untyped, so str paths arrive here too.
        out_dir = Path(options["out"] or Path(settings.DATA_DIR) / "models" / MODEL_NAME).resolve()
        config = TinyModelConfig()
        if options["steps"] is not None:
            if options["steps"] < 0:
                raise CommandError(f"--steps must be 0 or more, got {options['steps']}.")
            config.train_steps = options["steps"]
        corpus = self._corpus([Path(p) for p in options["corpus"] or []])

        if not options["force"] and is_up_to_date(out_dir, build_fingerprint(config, corpus)):
            self.stdout.write(f"Tiny model at {out_dir} is up to date (--force rebuilds it).")
        else:
            self._build(config, out_dir, corpus)

        if options["register"]:
            version, created = ModelVersion.objects.update_or_create(
                name=MODEL_NAME,
                defaults={"kind": ModelKind.POLICY, "base_model": str(out_dir)},
            )
            verb = "Registered" if created else "Updated"
            self.stdout.write(self.style.SUCCESS(f"{verb} model version '{version}' -> {out_dir}"))

    def _corpus(self, paths: list[Path]) -> list[str]:
        if not paths:
            return default_corpus()
        for path in paths:
            if not path.is_file():
                raise CommandError(f"--corpus: no such file: {path}")
        try:
            docs = read_corpus_files(paths)
        except ValueError as exc:
            raise CommandError(f"--corpus: {exc}") from exc
        if not docs:
            raise CommandError(f"--corpus: no documents in {', '.join(map(str, paths))}.")
        return docs

    def _build(self, config: TinyModelConfig, out_dir: Path, corpus: list[str]) -> None:
        every = max(1, config.train_steps // 6)

        def on_log(entry: dict) -> None:
            if entry["step"] % every == 0 or entry["step"] == config.train_steps:
                self.stdout.write(
                    f"  step {entry['step']}/{config.train_steps}: loss {entry['loss']:.3f}"
                )

        self.stdout.write(f"Building tiny model in {out_dir} ({len(corpus)} documents)...")
        build_tiny_model(config, out_dir=out_dir, corpus=corpus, on_log=on_log)
        summary = build_summary(out_dir)
        assert summary is not None, "build_tiny_model writes its marker last"
        self.stdout.write(
            self.style.SUCCESS(
                f"Built tiny model in {summary['seconds']} s: {summary['parameters']:,} parameters, "
                f"vocabulary of {summary['vocab_size']} tokens -> {out_dir}"
            )
        )
