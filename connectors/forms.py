"""The connector form: plain fields in, a `values` dict and the secret out for the service."""

from __future__ import annotations

from django import forms

from cavra_engine.policy.vocabulary import SEVERITIES
from connectors.events import EVENT_TYPES
from connectors.models import Connector
from connectors.services.connectors import OPTIONS

OPTION_LABELS = {
    "workspace_id": "Sentinel workspace id",
    "log_type": "Sentinel log type",
    "index": "Splunk index",
    "sourcetype": "Splunk sourcetype",
    "service": "Datadog service",
    "username": "User name (ServiceNow user, Jira account e-mail)",
    "project_key": "Jira project key",
    "issue_type": "Jira issue type",
}


class ConnectorForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Connector.Kind.choices)
    url = forms.CharField(
        label="Receiver URL", required=False, max_length=500, help_text="Not used for Slack and Teams."
    )
    secret = forms.CharField(
        label="Secret",
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Token, API key, shared key or password; for Slack and Teams the webhook URL. "
        "Stored encrypted and never shown again; leave empty to keep the stored one.",
    )
    event_types = forms.MultipleChoiceField(
        choices=list(EVENT_TYPES.items()), widget=forms.CheckboxSelectMultiple, label="Events"
    )
    min_severity = forms.ChoiceField(choices=[(s, s) for s in SEVERITIES], label="Lowest severity sent")
    redaction = forms.ChoiceField(choices=Connector.Redaction.choices, initial=Connector.Redaction.STANDARD)
    batching = forms.BooleanField(
        required=False, initial=True, help_text="Splunk, Sentinel and Datadog only."
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, connector: Connector | None = None, **kwargs):
        if connector is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                **{f: getattr(connector, f) for f in ("name", "kind", "url", "event_types", "min_severity")},
                **{f: getattr(connector, f) for f in ("redaction", "batching", "enabled")},
                **{f"option_{k}": v for k, v in (connector.options or {}).items()},
            }
        super().__init__(*args, **kwargs)
        for option, label in OPTION_LABELS.items():
            self.fields[f"option_{option}"] = forms.CharField(label=label, required=False, max_length=200)
        if connector is not None:
            self.fields["kind"].disabled = True

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        known = set().union(*(set(r) | set(o) for r, o in OPTIONS.values()))
        kind_options = set().union(*OPTIONS.get(data["kind"], ((), ())))
        data["options"] = {
            k: data.pop(f"option_{k}") for k in sorted(known) if k in kind_options and data.get(f"option_{k}")
        }
        for k in known:
            data.pop(f"option_{k}", None)
        data.pop("secret", None)
        return data
