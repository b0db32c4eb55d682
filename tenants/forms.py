"""Forms for members: the roles widget and the invite form; validation lives in the services."""

from __future__ import annotations

from django import forms

from core.roles import Role
from tenants.tokens import MAX_NAME_LENGTH


class RolesField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "error_messages",
            {"invalid_choice": "Unknown role: %(value)s.", "required": "Choose at least one role."},
        )
        super().__init__(choices=Role.choices, **kwargs)


class MemberInviteForm(forms.Form):
    email = forms.EmailField(
        label="E-mail address", error_messages={"invalid": "Enter a valid e-mail address."}
    )
    full_name = forms.CharField(label="Full name", required=False, max_length=150)
    roles = RolesField(label="Roles")


class MemberRolesForm(forms.Form):
    roles = RolesField(label="Roles")


def apply_service_errors(form: forms.Form, exc) -> None:
    """Put a service's ValidationError next to the field it names (or on the form)."""
    messages = getattr(exc, "message_dict", None) or {None: exc.messages}
    for field, errors in messages.items():
        target = field if field in form.fields else None
        for error in errors:
            form.add_error(target, error)


class PersonalTokenForm(forms.Form):
    name = forms.CharField(
        max_length=MAX_NAME_LENGTH,
        error_messages={"required": "Give the token a name, e.g. the script or bot that will use it."},
    )
    expires_at = forms.DateTimeField(
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        error_messages={"invalid": "Give a date and time such as 2030-01-31 12:00 (UTC)."},
    )


# SSO self-service: every field is plain text here; tenants.sso_config validates and names the field.
class SsoProviderForm(forms.Form):
    name = forms.CharField(label="Name shown on the sign-in button", required=False)
    issuer_url = forms.CharField(label="Issuer URL", required=False)
    client_id = forms.CharField(label="Client ID", required=False)
    client_secret = forms.CharField(
        label="Client secret", required=False, widget=forms.PasswordInput(render_value=False)
    )
    scopes = forms.CharField(label="Scopes", required=False, initial="openid email profile")
    groups_claim = forms.CharField(label="Group claim", required=False, initial="groups")
    email_domains = forms.CharField(label="E-mail domains", required=False)
    provider_id = forms.CharField(label="Sign-in id", required=False)
    jit_provisioning = forms.BooleanField(label="Just-in-time provisioning", required=False, initial=True)


class SamlProviderForm(forms.Form):
    name = forms.CharField(label="Name shown on the sign-in button", required=False)
    metadata_url = forms.CharField(label="IdP metadata URL", required=False)
    metadata_xml = forms.CharField(label="or IdP metadata XML", required=False, widget=forms.Textarea)
    idp_entity_id = forms.CharField(label="IdP entity id", required=False)
    sp_entity_id = forms.CharField(label="SP entity id (this portal)", required=False)
    groups_attribute = forms.CharField(label="Group attribute", required=False, initial="groups")
    email_attribute = forms.CharField(label="E-mail attribute", required=False)
    first_name_attribute = forms.CharField(label="First name attribute", required=False)
    last_name_attribute = forms.CharField(label="Last name attribute", required=False)
    email_domains = forms.CharField(label="E-mail domains", required=False)
    provider_id = forms.CharField(label="Sign-in id", required=False)
    jit_provisioning = forms.BooleanField(label="Just-in-time provisioning", required=False, initial=True)


class SsoStateForm(forms.Form):
    enabled = forms.BooleanField(required=False)
    enforce_sso = forms.BooleanField(required=False)
    break_glass_email = forms.CharField(label="Break-glass admin", required=False)


class RoleMappingsForm(forms.Form):
    mappings = forms.CharField(label="Group → role mappings", required=False, widget=forms.Textarea)
