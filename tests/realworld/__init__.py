"""Real IdPs' output, byte for byte as published: metadata documents and captured signed
responses of real products (SOURCES.md says where each file comes from, at which commit, under
which license). Nothing here was made by this project or edited."""

import base64
import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lxml import etree
from saml2.time_util import str_to_time

from saml_idps.crypto import XmlSecBindings
from saml_idps.response_checks import NS_DS, NS_SAML, NS_SAMLP, SHA1_METHODS

FOLDER = Path(__file__).resolve().parent


@dataclass(frozen=True)
class RealMetadata:
    """An IdP's metadata document. ``refused`` is what registering it must answer, when the
    refusal is right (an expired document, a placeholder entity ID); ``signature`` is the
    verdict on its signature that registering it records."""

    file: str
    product: str
    refused: str = ""
    signature: str = "unsigned"

    @property
    def path(self):
        return FOLDER / "metadata" / self.file

    @property
    def slug(self):
        return Path(self.file).stem[:100]


@dataclass(frozen=True)
class CapturedResponse:
    """A SAMLResponse an IdP product sent, with the certificate that signed it, and the NameID
    it signs in or the reason code it is refused with (rightly: ``refused``). The file is the
    XML, its base64 as posted (``.base64``), or the URL of a browser's request carrying it in
    a ``SAMLResponse`` parameter (``.url``). An encrypted one comes with the key pair of the
    SP it was encrypted to (``sp_key``, ``sp_certificate``)."""

    file: str
    certificate: str
    product: str
    name_id: str = ""
    refused: str = ""
    sp_key: str = ""
    sp_certificate: str = ""

    @property
    def slug(self):
        return Path(self.file).stem[:100]

    @cached_property
    def document(self):
        data = (FOLDER / "responses" / self.file).read_bytes()
        if self.file.endswith(".url"):
            data = parse_qs(urlsplit(data.decode()).query)["SAMLResponse"][0].encode()
        return base64.b64decode(data) if self.file.endswith((".base64", ".url")) else data

    @property
    def saml_response(self):
        """As the HTTP-POST binding carries it."""
        return base64.b64encode(self.document).decode()

    @property
    def certificate_pem(self):
        return (FOLDER / "responses" / self.certificate).read_text()

    def sp_file(self, name):
        return str(FOLDER / "responses" / name)

    @cached_property
    def root(self):
        """The document, its assertion decrypted when it is encrypted (to read its facts)."""
        document = self.document
        if self.sp_key:
            document = XmlSecBindings().decrypt(document, self.sp_file(self.sp_key)).encode()
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        return etree.fromstring(document, parser)

    def _first(self, path):
        return self.root.find(path, {"saml": NS_SAML, "samlp": NS_SAMLP})

    @property
    def issuer(self):
        issuer = self._first(".//saml:Assertion/saml:Issuer")
        return issuer.text.strip()

    @property
    def audience(self):
        return self._first(".//saml:Audience").text.strip()

    @property
    def recipient(self):
        """Where the IdP sent it: the ACS URL as the IdP knows it."""
        confirmation = self._first(".//saml:SubjectConfirmationData")
        return confirmation.get("Recipient") or self.root.get("Destination")

    @property
    def in_response_to(self):
        return self.root.get("InResponseTo")

    @property
    def issued_at(self):
        return datetime.fromtimestamp(
            calendar.timegm(str_to_time(self.root.get("IssueInstant"))), tz=UTC
        )

    @property
    def uses_sha1(self):
        return any(
            element.get("Algorithm") in SHA1_METHODS
            for tag in ("SignatureMethod", "DigestMethod")
            for element in self.root.iter(f"{{{NS_DS}}}{tag}")
        )


# Filled from SOURCES.md: every file listed there is listed here, and the reverse.
METADATA = [
    RealMetadata("okta-ssoready.xml", "Okta"),
    RealMetadata("okta-crewjam.xml", "Okta"),
    # Signed by Entra ID, then re-indented by the project that kept it: the signature fails,
    # which the IdP's change page reports as a warning.
    RealMetadata("entra-id-tenant-ruby-saml-pr.xml", "Microsoft Entra ID", signature="invalid"),
    RealMetadata(
        "adfs-msidlab11-v4-azuread-identitymodel.xml", "Microsoft AD FS", signature="verified"
    ),
    RealMetadata("google-workspace-ssoready.xml", "Google Workspace"),
    # Google's metadata expires with its certificate (validUntil): this copy did in 2021.
    RealMetadata("google-workspace-crewjam.xml", "Google Workspace", refused="expired on 2021-01"),
    RealMetadata("keycloak-new-ssoready.xml", "Keycloak"),
    RealMetadata("shibboleth-testshib-crewjam.xml", "Shibboleth IdP"),
    RealMetadata("shibboleth-msidlab13-azuread-identitymodel.xml", "Shibboleth IdP"),
    RealMetadata("shibboleth-idp-v5-default-authentik.xml", "Shibboleth IdP"),
    RealMetadata("samltest-id-perl-net-saml2.xml", "samltest.id (Shibboleth IdP)"),
    RealMetadata("onelogin-crewjam.xml", "OneLogin"),
    # One IdP in an EntitiesDescriptor, the shape Keycloak before v12 publishes.
    RealMetadata("simplesamlphp-umu-pysaml2-entitiesdescriptor.xml", "SimpleSAMLphp"),
    RealMetadata("auth0-jackson.xml", "Auth0"),
    RealMetadata(
        "vmware-vsphere-sso-uaa-entitiesdescriptor.xml",
        "VMware vCenter SSO",
        refused="expired on 2014-05",
    ),
    RealMetadata("apereo-cas-pac4j.xml", "Apereo CAS"),
]
CAPTURED = [
    CapturedResponse(
        "okta-java-saml-response-to-decrypt.base64",
        "okta-java-saml-response-to-decrypt.crt.pem",
        "Okta",
        "archit.neema@intellicus.com",
        sp_key="okta-java-saml-response-to-decrypt.sp.key.pem",
        sp_certificate="okta-java-saml-response-to-decrypt.sp.crt.pem",
    ),
    CapturedResponse(
        "azuread-tercen-emailaddress.xml",
        "azuread-tercen-emailaddress.crt.pem",
        "Microsoft Entra ID (2022)",
        "test@alexandremaurelgmail.onmicrosoft.com",
    ),
    CapturedResponse(
        "azuread-ruby-saml-valid-response-2.base64",
        "azuread-ruby-saml-valid-response-2.crt.pem",
        "Microsoft Entra ID (Azure AD, 2015)",
        "tatham.oddie@readify.net",
    ),
    CapturedResponse(
        "azuread-socialflow-persistent.xml",
        "azuread-socialflow-persistent.crt.pem",
        "Microsoft Entra ID (Azure AD, 2015)",
        "Dh7tdLu2gHm-Vi4emADxWxfoPB2XZvADD_H2EBlaKAw",
    ),
    CapturedResponse(
        "adfs-gosaml2old-emailaddress.base64",
        "adfs-gosaml2old-emailaddress.crt.pem",
        "Microsoft AD FS",
        "paul@spstest2.com",
    ),
    CapturedResponse(
        "adfs-passport-wsfed-saml2-samlresponse-encoded-xml.base64",
        "adfs-passport-wsfed-saml2-samlresponse-encoded-xml.crt.pem",
        "Microsoft AD FS",
        "pabrol001",
    ),
    CapturedResponse(
        "google-crewjam-unspecified.base64",
        "google-crewjam-unspecified.crt.pem",
        "Google Workspace",
        "ross@octolabs.io",
    ),
    CapturedResponse(
        "keycloak-tercen-emailaddress.xml",
        "keycloak-tercen-emailaddress.crt.pem",
        "Keycloak",
        "alexandre.maurel@gmail.com",
    ),
    CapturedResponse(
        "auth0-gosaml2old-unspecified.xml",
        "auth0-gosaml2old-unspecified.crt.pem",
        "Auth0",
        "google-oauth2|117637692321743777825",
    ),
    CapturedResponse(
        "pingfederate-gosaml2old-responsesigned.base64",
        "pingfederate-gosaml2old-responsesigned.crt.pem",
        "PingFederate",
        "firstlast@saml.test.nope",
    ),
    CapturedResponse(
        "pingfederate-gosaml2old-assertionsigned.base64",
        "pingfederate-gosaml2old-assertionsigned.crt.pem",
        "PingFederate",
        "firstlast@saml.test.nope",
    ),
    CapturedResponse(
        "bloomberg-bsso-socialflow-unspecified.xml",
        "bloomberg-bsso-socialflow-unspecified.crt.pem",
        "Bloomberg BSSO (PingFederate, by its output)",
        "mkatanuma@bloomberg.net",
    ),
    CapturedResponse(
        "simplesamlphp-python3-saml-valid-response2.base64",
        "simplesamlphp-python3-saml-valid-response2.crt.pem",
        "SimpleSAMLphp",
        "25ddd7d34a7d79db69167625cda56a320adf2876",
    ),
    # Refused, and rightly so: each is kept to show the refusal and its reason.
    CapturedResponse(
        "shibboleth-testshib-social-core-saml-response.url",
        "shibboleth-testshib-social-core-saml-response.crt.pem",
        "Shibboleth IdP (TestShib)",
        refused="transient_name_id",  # a transient NameID identifies nobody
        sp_key="shibboleth-testshib-social-core-saml-response.sp.key.pem",
        sp_certificate="shibboleth-testshib-social-core-saml-response.sp.crt.pem",
    ),
    CapturedResponse(
        "adfs-socialflow-nonameid.xml",
        "adfs-socialflow-nonameid.crt.pem",
        "Microsoft AD FS",
        refused="no_name_id",  # the assertion has no NameID at all
    ),
    CapturedResponse(
        "okta-dex-persistent.xml",
        "okta-dex-persistent.crt.pem",
        "Okta",
        # It answers dex's request ID 6zmm5...: not an NCName, so not valid SAML (pysaml2's
        # schema check refuses it too). Okta echoes our IDs, which are valid.
        refused="schema_invalid",
    ),
    CapturedResponse(
        "secureworks-crewjam-keyvalue.xml",
        "secureworks-crewjam-keyvalue.crt.pem",
        "SecureWorks IdP",
        refused="schema_invalid",  # its IDs begin with a digit: not NCNames
    ),
]
