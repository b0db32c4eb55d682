from django.urls import path

from connectors import views

app_name = "connectors"

urlpatterns = [
    path("", views.ConnectorListView.as_view(), name="list"),
    path("export.csv", views.ConnectorListView.as_view(export=True), name="export"),
    path("new/", views.ConnectorCreateView.as_view(), name="create"),
    path("<str:public_id>/", views.ConnectorDetailView.as_view(), name="detail"),
    path("<str:public_id>/edit/", views.ConnectorEditView.as_view(), name="edit"),
    path("<str:public_id>/test/", views.ConnectorTestView.as_view(), name="test"),
    path("<str:public_id>/delete/", views.ConnectorDeleteView.as_view(), name="delete"),
    path(
        "<str:public_id>/messages/<int:message_id>/retry/",
        views.ConnectorMessageRetryView.as_view(),
        name="message-retry",
    ),
]
