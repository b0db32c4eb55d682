from django import forms

from cavra_engine.policy.vocabulary import VERDICTS

DECISIONS = [("", "Any"), *((v, v) for v in VERDICTS)]


class ExplorerFilterForm(forms.Form):
    kind = forms.CharField(required=False, help_text="Exact kind, or a prefix ending in '.'")
    agent = forms.CharField(required=False)
    session = forms.CharField(required=False)
    repository = forms.CharField(required=False)
    decision = forms.ChoiceField(required=False, choices=DECISIONS)
    since = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            self.add_error("until", "Must be later than 'since'.")
        return data


class BundleForm(forms.Form):
    since = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    session = forms.CharField(required=False)
    agent = forms.CharField(required=False)
    repository = forms.CharField(required=False)

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            self.add_error("until", "Must be later than 'since'.")
        return data


class VerifyRangeForm(forms.Form):
    first_seq = forms.IntegerField(required=False, min_value=1, label="From record #")
    last_seq = forms.IntegerField(required=False, min_value=1, label="To record #")

    def clean(self):
        data = super().clean()
        if data.get("first_seq") and data.get("last_seq") and data["first_seq"] > data["last_seq"]:
            self.add_error("last_seq", "Must not be below 'From record #'.")
        return data


class RetentionForm(forms.Form):
    retention_days = forms.IntegerField(min_value=1, max_value=36500)
    legal_hold = forms.BooleanField(required=False)
    legal_hold_reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        data = super().clean()
        if data.get("legal_hold") and not data.get("legal_hold_reason"):
            self.add_error("legal_hold_reason", "A legal hold needs a reason.")
        return data
