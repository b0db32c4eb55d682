"""Forms: findings filters, finding transitions, check thresholds."""

from __future__ import annotations

from django import forms


class FindingTransitionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[
            ("acknowledge", "Acknowledge"),
            ("resolve", "Resolve"),
            ("reopen", "Re-open"),
            ("risk_accept", "Accept the risk"),
        ]
    )
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    until = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="When the acceptance expires (UTC).",
    )

    def clean(self):
        data = super().clean()
        if data.get("action") == "risk_accept":
            if not (data.get("reason") or "").strip():
                self.add_error("reason", "Say why the risk is accepted.")
            if not data.get("until"):
                self.add_error("until", "Give the date the acceptance expires.")
        return data


class CheckSettingForm(forms.Form):
    check_id = forms.CharField(max_length=80)
    enabled = forms.BooleanField(required=False)
    threshold_days = forms.IntegerField(required=False, min_value=1, max_value=3650)


class DaysForm(forms.Form):
    days = forms.IntegerField(required=False, min_value=1, max_value=365)
