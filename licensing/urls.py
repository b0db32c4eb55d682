from django.urls import path

from licensing import views

app_name = "licensing"

urlpatterns = [
    path("", views.LicenceStatusView.as_view(), name="status"),
    path("upload/", views.LicenceUploadView.as_view(), name="upload"),
]
