"""The licence upload form: one file field (the service verifies it)."""

from __future__ import annotations

from django import forms

from licensing.licence_file import MAX_FILE_BYTES


class LicenceUploadForm(forms.Form):
    licence_file = forms.FileField(
        label="Licence file",
        help_text=f"The signed .json licence file from the vendor (at most {MAX_FILE_BYTES // 1024} KB).",
    )

    def clean_licence_file(self) -> bytes:
        upload = self.cleaned_data["licence_file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                f"A licence file has at most {MAX_FILE_BYTES // 1024} KB; this one {upload.size // 1024} KB."
            )
        return upload.read()
