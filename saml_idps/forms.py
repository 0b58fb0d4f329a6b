import json

from django import forms

from . import idp_metadata, metadata
from .models import IdentityProvider
from .presets import PRESETS

# Fields whose change means the metadata must be fetched (or parsed) and checked again.
METADATA_SOURCES = [
    "metadata_url",
    "metadata_xml",
    "aggregate_entity_id",
    "metadata_signing_certificate",
]


# What a preset fills in.
PRESET_FIELDS = ("attribute_mapping", "groups_attribute")


class FormattedJSONField(forms.JSONField):
    """JSON shown indented, one attribute a line, and checked when saved."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


class IdentityProviderForm(forms.ModelForm):
    """Registers an IdP from its metadata URL or pasted metadata XML.

    The metadata is fetched and checked while the form is cleaned (metadata.check_new_copy), so
    a bad URL or document is a form error and nothing is saved; metadata.register saves the IdP
    with it and records it in the IdP's metadata changes.
    """

    class Meta:
        model = IdentityProvider
        # What registers an IdP; everything else has a default (the admin's change form adds
        # the other fields through its fieldsets).
        fields = [
            "slug",
            "name",
            "metadata_url",
            "metadata_xml",
            "aggregate_entity_id",
            "sp_entity_id",
            "acs_url",
        ]
        widgets = {
            "metadata_xml": forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
            # A plain input: the admin's URL widget shows "Currently: <url>" even for a value
            # that was never saved.
            "metadata_url": forms.URLInput(attrs={"class": "vURLField"}),
            "attribute_mapping": forms.Textarea(
                attrs={"rows": 8, "cols": 60, "spellcheck": "false", "class": "json"}
            ),
        }
        field_classes = {"attribute_mapping": FormattedJSONField}

    attribute_preset = forms.ChoiceField(
        label="attribute mapping preset",
        required=False,
        choices=[("", "(keep the mapping as it is)")]
        + [(key, preset["label"]) for key, preset in PRESETS.items()],
        help_text="Replaces the attribute mapping and groups attribute with the usual names "
        "of that IdP.",
    )

    sp_entity_id = forms.CharField(
        label=IdentityProvider._meta.get_field("sp_entity_id").verbose_name,
        help_text=IdentityProvider._meta.get_field("sp_entity_id").help_text,
        max_length=1024,
        required=False,
        strip=False,  # spaces alone are an error, not "use the default"
    )

    new_copy = None  # the metadata copy checked by clean(), for metadata.register
    preset = None

    def clean_sp_entity_id(self):
        value = self.cleaned_data["sp_entity_id"]
        if value and not value.strip():
            raise forms.ValidationError(
                "The SP entity ID is empty once its spaces are removed. Leave the field empty "
                "for the default."
            )
        return value.strip()

    def clean_metadata_signing_certificate(self):
        pem = self.cleaned_data["metadata_signing_certificate"]
        try:
            return idp_metadata.load_pinned_certificate(pem) if pem.strip() else ""
        except idp_metadata.MetadataError as error:
            raise forms.ValidationError(str(error)) from error

    def clean(self):
        cleaned_data = super().clean()
        self.apply_preset(cleaned_data)
        url = cleaned_data.get("metadata_url", "")
        xml = (cleaned_data.get("metadata_xml") or "").strip()
        if not url and not xml:
            if "metadata_url" not in self.errors:
                raise forms.ValidationError(
                    "Enter the IdP's metadata URL, or paste its metadata XML."
                )
            return cleaned_data
        if self.errors or not (
            self.instance.pk is None or set(METADATA_SOURCES) & set(self.changed_data)
        ):
            return cleaned_data  # invalid already, or the stored metadata stays as it is
        pasted = xml and "metadata_xml" in self.changed_data
        try:
            self.new_copy = metadata.check_new_copy(
                self.instance,
                url=url,
                xml=xml if pasted else "",
                entity_id=cleaned_data.get(
                    "aggregate_entity_id", self.instance.aggregate_entity_id
                ),
                pinned_certificate=cleaned_data.get(
                    "metadata_signing_certificate", self.instance.metadata_signing_certificate
                ),
            )
        except idp_metadata.MetadataError as error:
            self.add_error("metadata_xml" if pasted else "metadata_url", str(error))
            return cleaned_data
        cleaned_data["metadata_xml"] = self.new_copy.document.xml
        return cleaned_data

    def apply_preset(self, cleaned_data):
        preset = PRESETS.get(cleaned_data.get("attribute_preset", ""))
        if preset is None:
            return
        for field in PRESET_FIELDS:
            cleaned_data[field] = preset[field]
        self.preset = preset

    def save(self, commit=True):
        """The IdP, saved by metadata.register (with the new metadata copy, if any, and its
        history) when ``commit``; without, the caller registers it (as the admin does)."""
        identity_provider = super().save(commit=False)
        if self.preset is not None:  # the add form has the preset, not the fields it fills
            for field in PRESET_FIELDS:
                setattr(identity_provider, field, self.preset[field])
        if commit:
            metadata.register(identity_provider, self.new_copy)
            self.save_m2m()
        return identity_provider


class DiscoveryForm(forms.Form):
    """The home page's "Sign in with your work email" and organisation search (GET)."""

    email = forms.EmailField(required=False, max_length=254)
    q = forms.CharField(required=False, max_length=200)


def errors_as_text(errors):
    """A form's errors for the command line: a line per field, its messages after its name."""
    return "\n".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
