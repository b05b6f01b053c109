from __future__ import annotations

from django.contrib import admin
from django.db.models import Exists, OuterRef, Subquery
from django.urls import reverse
from django.utils.html import format_html

from annotate.admin_actions import export_snapshot
from annotate.admin_import import ProjectAdminImportMixin
from annotate.models import (
    Assignment,
    Comparison,
    ComparisonItem,
    DatasetSnapshot,
    Flag,
    Membership,
    Project,
    Prompt,
    Rater,
    Response,
    Vote,
)
from training.admin_actions import TRAINING_ACTIONS
from training.admin_generate import generate_candidates


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(ProjectAdminImportMixin, admin.ModelAdmin):
    list_display = ["name", "mode", "overlap", "created_at", "rater_quality"]
    list_filter = ["mode"]
    search_fields = ["name", "slug"]
    readonly_fields = ["rater_quality"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    actions = [export_snapshot, *TRAINING_ACTIONS, generate_candidates]

    @admin.display(description="rater quality")
    def rater_quality(self, obj: Project) -> str:
        # By URL name: the page lives in the judges app, above this one.
        if obj.pk is None:
            return "–"
        url = reverse("admin:judges_rater_quality", args=[obj.pk])
        return format_html('<a href="{}">rater quality</a>', url)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]
    autocomplete_fields = ["user", "project"]


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0
    fields = ["text", "model_version", "source", "generation_params"]
    show_change_link = True


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "short_text",
        "project",
        "turns",
        "source_file",
        "source_line",
        "created_at",
    ]
    list_filter = ["project"]
    search_fields = ["messages", "source_file", "content_hash"]
    readonly_fields = ["content_hash", "created_at"]
    inlines = [ResponseInline]
    actions = [generate_candidates]

    @admin.display(description="prompt")
    def short_text(self, obj: Prompt) -> str:
        return obj.last_user_text[:80]

    @admin.display(description="turns")
    def turns(self, obj: Prompt) -> int:
        return obj.turn_count


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "origin", "short_text", "created_at"]
    list_filter = ["source", "model_version", "prompt__project"]
    search_fields = ["text", "source"]
    raw_id_fields = ["prompt", "edited_from", "author"]
    readonly_fields = ["content_hash", "created_at"]
    list_select_related = ["model_version"]

    @admin.display(description="text")
    def short_text(self, obj: Response) -> str:
        return obj.text[:80]


class ComparisonItemInline(admin.TabularInline):
    model = ComparisonItem
    extra = 0
    raw_id_fields = ["response"]


class VoteInline(admin.TabularInline):
    model = Vote
    extra = 0
    fields = ["rater", "choice", "strength", "ranking", "edited_response", "updated_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "prompt", "vote_count", "created_at"]
    list_filter = ["project"]
    search_fields = ["prompt__messages"]
    raw_id_fields = ["prompt"]
    readonly_fields = ["content_hash", "vote_count", "created_at"]
    inlines = [ComparisonItemInline, VoteInline]


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "user", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "user__username"]
    raw_id_fields = ["user"]


class VoteFlagFilter(admin.SimpleListFilter):
    """Votes whose rater flagged the item (the flag lives on the rater's assignment)."""

    title = "flag"
    parameter_name = "flag"

    def lookups(self, request, model_admin):
        return [("any", "Any flag"), *Flag.choices]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        flagged = Assignment.objects.filter(
            comparison=OuterRef("comparison"), rater=OuterRef("rater")
        ).exclude(flag="")
        if self.value() != "any":
            flagged = flagged.filter(flag=self.value())
        return queryset.filter(Exists(flagged))


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "comparison",
        "rater",
        "choice",
        "strength",
        "flag",
        "time_spent_ms",
        "updated_at",
    ]
    list_filter = ["choice", VoteFlagFilter, "rater__kind", "comparison__project"]
    search_fields = ["rater__name", "rationale"]
    raw_id_fields = ["comparison", "rater", "edited_response"]
    list_select_related = ["rater"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        mine = Assignment.objects.filter(comparison=OuterRef("comparison"), rater=OuterRef("rater"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                rater_flag=Subquery(mine.values("flag")[:1]),
                rater_flag_note=Subquery(mine.values("flag_note")[:1]),
            )
        )

    @admin.display(description="flag", ordering="rater_flag")
    def flag(self, obj: Vote) -> str:
        if not obj.rater_flag:
            return ""
        label = Flag(obj.rater_flag).label
        return f"{label}: {obj.rater_flag_note}" if obj.rater_flag_note else label


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "rater",
        "comparison",
        "status",
        "flag",
        "flag_note",
        "skip_reason",
        "assigned_at",
        "completed_at",
    ]
    list_filter = ["status", "flag", "comparison__project"]
    search_fields = ["rater__name", "skip_reason", "flag_note"]
    raw_id_fields = ["comparison", "rater"]
    list_select_related = ["rater"]


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    """Snapshots are immutable: training runs point at them."""

    list_display = ["name", "project", "kind", "format", "row_count", "created_at"]
    actions = list(TRAINING_ACTIONS)
    list_filter = ["kind", "format", "project"]
    search_fields = ["name", "content_hash"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
