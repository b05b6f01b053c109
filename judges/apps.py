from django.apps import AppConfig


class JudgesConfig(AppConfig):
    name = "judges"
    verbose_name = "AI judges"

    def ready(self) -> None:
        # Exports (annotate, a lower layer) ask this app which judges pass the admission gate.
        from annotate.services.export.gate import judge_gate_provider_set
        from judges.services.gate import export_judge_scope

        judge_gate_provider_set(export_judge_scope)
