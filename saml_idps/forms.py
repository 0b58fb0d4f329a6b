from django import forms

from . import metadata
from .models import IdentityProvider


class IdentityProviderForm(forms.ModelForm):
    """Registers an IdP from its metadata URL or pasted metadata XML.

    The metadata is fetched and checked while the form is cleaned, so a bad URL or document is
    a form error and nothing is saved.
    """

    class Meta:
        model = IdentityProvider
        # What registers an IdP; everything else has a default (the admin's change form adds
        # the other fields through its fieldsets).
        fields = ["slug", "name", "metadata_url", "metadata_xml"]
        widgets = {"metadata_xml": forms.Textarea(attrs={"rows": 6, "spellcheck": "false"})}

    def clean(self):
        cleaned_data = super().clean()
        url = cleaned_data.get("metadata_url", "")
        xml = (cleaned_data.get("metadata_xml") or "").strip()
        pasted = xml and "metadata_xml" in self.changed_data
        if not url and not xml:
            if "metadata_url" not in self.errors:
                raise forms.ValidationError(
                    "Enter the IdP's metadata URL, or paste its metadata XML."
                )
            return cleaned_data
        if not pasted and not (
            url and (self.instance.pk is None or "metadata_url" in self.changed_data)
        ):
            return cleaned_data  # the stored metadata stays as it is
        field = "metadata_xml" if pasted else "metadata_url"
        try:
            document = metadata.parse(xml) if pasted else metadata.load_from_url(url)
        except metadata.MetadataError as error:
            self.add_error(field, str(error))
            return cleaned_data
        others = IdentityProvider.objects.filter(entity_id=document.entity_id)
        if others.exclude(pk=self.instance.pk).exists():
            self.add_error(
                field, f"Another identity provider already has the entity ID {document.entity_id}."
            )
            return cleaned_data
        metadata.apply(self.instance, document, source_url="" if pasted else url)
        cleaned_data["metadata_xml"] = document.xml
        return cleaned_data
