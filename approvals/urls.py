from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("", views.QueueView.as_view(), name="queue"),
    path("history/", views.HistoryView.as_view(), name="history"),
    path("history/export.csv", views.HistoryView.as_view(export=True), name="history-export"),
    path("break-glass-reviews/", views.BreakGlassReviewsView.as_view(), name="break-glass-reviews"),
    path(
        "break-glass-reviews/<int:review_id>/close/",
        views.BreakGlassReviewCloseView.as_view(),
        name="break-glass-review-close",
    ),
    path("<str:public_id>/", views.DetailView.as_view(), name="detail"),
    path("<str:public_id>/review/", views.ReviewView.as_view(), name="review"),
    path("<str:public_id>/break-glass/", views.BreakGlassView.as_view(), name="break-glass"),
]
