"""Licences a platform admin uploaded on the status page: an append-only history, the newest in force."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class LicenceUpload(models.Model):
    """One uploaded licence file, kept verbatim (its signature is checked again whenever it is read)."""

    text = models.TextField(help_text="The licence file exactly as uploaded.")
    sha256 = models.CharField(max_length=64)
    licence_id = models.CharField(max_length=80)
    licensee = models.CharField(max_length=200)
    edition = models.CharField(max_length=20)
    expires_at = models.DateField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_by_label = models.CharField(max_length=254)
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.licence_id} ({self.licensee}, {self.edition})"
