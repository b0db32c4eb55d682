"""Forms for the registry pages; they parse input, the services validate it."""

from __future__ import annotations

from django import forms

from registry.models import Agent, CapabilityClass, McpServer, RiskTier
from registry.profiles import ACTION_CHOICES, PROFILE_CHOICES
from tenants.models import User


class LinesField(forms.CharField):
    """One entry per line (or comma-separated) -> a list of strings."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


class MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.email


class AgentForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    profile = forms.ChoiceField(choices=PROFILE_CHOICES)
    owner = MemberChoiceField(queryset=User.objects.none(), required=False)
    risk_tier = forms.ChoiceField(choices=RiskTier.choices, initial=RiskTier.MEDIUM)
    allowed_repositories = LinesField(
        required=False, help_text="One glob per line, e.g. acme/*; empty = all."
    )
    allowed_actions = forms.MultipleChoiceField(
        choices=ACTION_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    allowed_mcp_tools = LinesField(required=False, help_text="server:tool globs, e.g. github:*.")

    def __init__(self, *args, tenant=None, **kwargs):
        super().__init__(*args, **kwargs)
        if tenant is not None:
            self.fields["owner"].queryset = User.objects.filter(memberships__tenant=tenant).order_by("email")


class AgentStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Agent.Status.choices)


class CredentialIssueForm(forms.Form):
    label = forms.CharField(max_length=100, required=False)
    expires_at = forms.DateTimeField(
        required=False,
        help_text="Optional, UTC, e.g. 2030-01-31 12:00.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )


class McpServerForm(forms.Form):
    server_id = forms.CharField(max_length=100, label="Server id")
    name = forms.CharField(max_length=120)
    publisher = forms.CharField(max_length=120, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    transport = forms.ChoiceField(choices=McpServer.Transport.choices)
    url = forms.CharField(max_length=500, required=False, label="URL")
    command = forms.CharField(max_length=500, required=False)
    trust_tier = forms.ChoiceField(
        choices=McpServer.TrustTier.choices, initial=McpServer.TrustTier.EXPERIMENTAL
    )
    capabilities = forms.MultipleChoiceField(
        choices=CapabilityClass.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
