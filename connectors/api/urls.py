from django.urls import path

from connectors.api import views

urlpatterns = [
    path("connectors", views.ConnectorListView.as_view(), name="connectors"),
    path("connectors/<str:connector_id>", views.ConnectorDetailView.as_view(), name="connector"),
    path("connectors/<str:connector_id>/test", views.ConnectorTestView.as_view(), name="connector-test"),
    path(
        "connectors/<str:connector_id>/outbox", views.ConnectorOutboxView.as_view(), name="connector-outbox"
    ),
    path(
        "connectors/<str:connector_id>/outbox/<int:message_id>/retry",
        views.ConnectorMessageRetryView.as_view(),
        name="connector-outbox-retry",
    ),
]
