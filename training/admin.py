from django.contrib import admin

from training.models import ModelVersion, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "base_model", "parent", "produced_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "base_model", "adapter_path"]
    raw_id_fields = ["parent", "produced_by"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "base", "snapshot", "status", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    search_fields = ["base__name", "error"]
    raw_id_fields = ["base", "snapshot"]
