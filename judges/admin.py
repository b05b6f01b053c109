from django.contrib import admin

from judges.models import Judge


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin):
    list_display = ["rater", "kind", "model", "version", "created_at"]
    list_filter = ["kind"]
    search_fields = ["rater__name", "model", "base_url"]
