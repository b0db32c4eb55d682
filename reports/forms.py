"""Forms of the schedule and recipient-policy pages (the services do the checking)."""

from __future__ import annotations

from django import forms

from aispm.catalogue import frameworks
from core.roles import Role
from reports.catalogue import REPORT_TYPE_CHOICES


def _lines(value: str) -> list[str]:
    return [part.strip() for part in str(value or "").replace(",", "\n").splitlines() if part.strip()]


class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=120)
    report_type = forms.ChoiceField(choices=REPORT_TYPE_CHOICES)
    cron = forms.CharField(max_length=120, initial="0 7 * * 1", help_text="minute hour day month weekday")
    timezone = forms.CharField(max_length=64, initial="UTC")
    window_days = forms.IntegerField(min_value=1, max_value=365, initial=30)
    formats = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(f, f.upper()) for f in ("html", "pdf", "json", "csv", "xlsx")],
        help_text="Empty: every format of the report type.",
    )  # fmt: skip
    repositories = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                   help_text="One per line; empty: all.")  # fmt: skip
    frameworks = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple,
        choices=lambda: [(fid, fw.title) for fid, fw in frameworks().items()],
    )  # fmt: skip
    recipient_roles = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                                choices=Role.choices)  # fmt: skip
    recipient_emails = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One address per line: members, or addresses in a domain the recipient policy allows.",
    )  # fmt: skip

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["repositories"] = _lines(data.get("repositories"))
        data["recipient_emails"] = _lines(data.get("recipient_emails"))
        return data

    @classmethod
    def initial_from(cls, schedule) -> dict:
        return {
            "name": schedule.name, "report_type": schedule.report_type, "cron": schedule.cron,
            "timezone": schedule.timezone, "window_days": schedule.window_days, "formats": schedule.formats,
            "repositories": "\n".join(schedule.repositories), "frameworks": schedule.frameworks,
            "recipient_roles": schedule.recipient_roles, "recipient_emails": "\n".join(schedule.recipient_emails),
        }  # fmt: skip


class RecipientPolicyForm(forms.Form):
    allowed_domains = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="External domains reports may be sent to, one per line. They receive the redacted variant.",
    )  # fmt: skip

    def domains(self) -> list[str]:
        return _lines(self.cleaned_data.get("allowed_domains"))
