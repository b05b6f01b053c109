from django.urls import path

from annotate.views import annotator, review

app_name = "annotate"

urlpatterns = [
    path("", annotator.home, name="home"),
    path("p/<slug:slug>/", annotator.compare, name="compare"),
    path("p/<slug:slug>/c/<int:comparison_id>/", annotator.item, name="item"),
    path("p/<slug:slug>/c/<int:comparison_id>/vote/", annotator.vote, name="vote"),
    path("p/<slug:slug>/c/<int:comparison_id>/skip/", annotator.skip, name="skip"),
    path("p/<slug:slug>/c/<int:comparison_id>/reopen/", annotator.reopen, name="reopen"),
    path("p/<slug:slug>/undo/", annotator.undo, name="undo"),
    path("p/<slug:slug>/progress/", annotator.progress, name="progress"),
    path("p/<slug:slug>/prefetch/", annotator.prefetch, name="prefetch"),
    path("p/<slug:slug>/history/", annotator.history, name="history"),
    path("p/<slug:slug>/diff/", annotator.diff, name="diff"),
    path("p/<slug:slug>/review/", review.review_list, name="review_list"),
    path("p/<slug:slug>/review/<int:comparison_id>/", review.review_detail, name="review_detail"),
]
