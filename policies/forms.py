"""Forms for uploading packs, installing bundled ones and setting rollouts."""

from __future__ import annotations

from django import forms

from policies.models import Rollout

MODE_CHOICES = Rollout.Mode.choices


class PackUploadForm(forms.Form):
    source = forms.CharField(
        label="Pack YAML", widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}), required=False
    )
    file = forms.FileField(label="…or a .yaml file", required=False)

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > 512 * 1024:
                self.add_error("file", "The file is larger than 512 KiB.")
                return data
            try:
                data["source"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("file", "The file is not UTF-8 text.")
        if not (data.get("source") or "").strip() and not self.errors:
            self.add_error("source", "Paste a pack or choose a file.")
        return data


class BundledInstallForm(forms.Form):
    pack_id = forms.CharField(max_length=120)


class RolloutForm(forms.Form):
    version = forms.CharField(label="Policy version", max_length=40)
    repository = forms.CharField(
        label="Repository", max_length=300, required=False, help_text="Empty: every repository."
    )
    environment = forms.CharField(
        label="Environment", max_length=100, required=False, help_text="Empty: every environment."
    )
    mode = forms.ChoiceField(choices=MODE_CHOICES, initial=Rollout.Mode.ENFORCE)
