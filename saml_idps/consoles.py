"""What an IdP's admin enters in each product's console so that it signs people in here.

One entry per product: where in its console (or configuration) the SAML app is made, and each
field there with our value for it. The IdP's admin change page shows them (the product its
entity ID names first), and the documentation's page of each product is made from the same
entries, so neither can drift from our URLs. Values name our URLs as ``{acs}``, ``{entity_id}``,
``{metadata}``, ``{single_logout}`` and ``{login}`` (config.SpUrls), and ``{acs_pattern}``, a
regular expression matching the ACS URL."""

import re
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Console:
    product: str
    where: str
    fields: tuple
    # Text in an IdP's entity ID that names this product.
    entity_id_marks: tuple = ()


CONSOLES = {
    "okta": Console(
        "Okta",
        "Admin Console › Applications › Create App Integration › SAML 2.0 › Configure SAML",
        (
            ("Single sign-on URL", "{acs}"),
            ("Use this for Recipient URL and Destination URL", "ticked"),
            ("Audience URI (SP Entity ID)", "{entity_id}"),
            ("Name ID format", "EmailAddress (or Persistent; never Transient)"),
            ("Application username", "Email"),
            ("Attribute Statements", "FirstName = user.firstName, LastName = user.lastName, "
             "Email = user.email"),
            ("Group Attribute Statements", "groups, filter Matches regex .*"),
            ("Enable Single Logout (Show Advanced Settings)", "ticked, for single logout"),
            ("Single Logout URL", "{single_logout}"),
            ("SP Issuer", "{entity_id}"),
            ("Signature Certificate", "our certificate, from {metadata}"),
        ),
        ("okta.com", "oktapreview.com", "okta-emea.com"),
    ),
    "entra": Console(
        "Microsoft Entra ID",
        "Entra admin center › Enterprise applications › New application › Create your own "
        "application (Non-gallery) › Single sign-on › SAML › Basic SAML Configuration",
        (
            ("Identifier (Entity ID)", "{entity_id}"),
            ("Reply URL (Assertion Consumer Service URL)", "{acs}"),
            ("Sign on URL", "{login}"),
            ("Logout Url", "{single_logout}"),
            ("Unique User Identifier (Name ID)", "user.userprincipalname, or user.objectid "
             "with the Persistent format"),
            ("Add a group claim", "Groups assigned to the application"),
        ),
        ("sts.windows.net", "login.microsoftonline.com"),
    ),
    "google": Console(
        "Google Workspace",
        "Admin console › Apps › Web and mobile apps › Add app › Add custom SAML app › "
        "Service provider details",
        (
            ("ACS URL", "{acs}"),
            ("Entity ID", "{entity_id}"),
            ("Start URL", "{login}"),
            ("Signed response", "either: unticked, the assertion is signed; ticked, the response"),
            ("Name ID format", "EMAIL (or PERSISTENT)"),
            ("Name ID", "Basic Information › Primary email"),
            ("Attribute mapping", "First name → firstName, Last name → lastName, "
             "Primary email → email"),
            ("Group membership", "the groups to send → groups"),
        ),
        ("accounts.google.com",),
    ),
    "adfs": Console(
        "AD FS",
        "AD FS Management › Relying Party Trusts › Add Relying Party Trust › Claims aware",
        (
            ("Federation metadata address (host name or URL)", "{metadata}"),
            ("Relying party trust identifier (when entered by hand)", "{entity_id}"),
            ("Relying party SAML 2.0 SSO service URL (when entered by hand)", "{acs}"),
            ("Endpoints › SAML Logout", "{single_logout}"),
            ("Claim issuance: Send LDAP Attributes as Claims", "E-Mail-Addresses → E-Mail "
             "Address, Given-Name → Given Name, Surname → Surname, Token-Groups - Unqualified "
             "Names → Group"),
            ("Claim issuance: Transform an Incoming Claim", "E-Mail Address → Name ID, "
             "format Email"),
        ),
        ("/adfs/services/trust",),
    ),
    "keycloak": Console(
        "Keycloak",
        "Admin console › your realm › Clients › Import client (our metadata) or Create client "
        "(Client type SAML)",
        (
            ("Resource file (Import client)", "our metadata, saved from {metadata}"),
            ("Client ID", "{entity_id}"),
            ("Valid redirect URIs", "{acs}"),
            ("Assertion Consumer Service POST Binding URL (Advanced)", "{acs}"),
            ("Logout Service Redirect Binding URL (Advanced)", "{single_logout}"),
            ("Name ID format", "email or persistent (Force name ID format on)"),
            ("Client signature required (Keys)", "on, with our certificate from {metadata}"),
        ),
        ("/realms/",),
    ),
    "onelogin": Console(
        "OneLogin",
        "Administration › Applications › Add App › SAML Custom Connector (Advanced) › "
        "Configuration",
        (
            ("Audience (EntityID)", "{entity_id}"),
            ("Recipient", "{acs}"),
            ("ACS (Consumer) URL Validator", "{acs_pattern}"),
            ("ACS (Consumer) URL", "{acs}"),
            ("Single Logout URL", "{single_logout}"),
            ("Login URL", "{login}"),
            ("SAML initiator", "Service Provider"),
            ("SAML nameID format", "Email (or Persistent)"),
            ("SAML signature element", "Both"),
            ("SAML Signature Algorithm (SSO tab)", "SHA-256"),
        ),
        ("onelogin.com",),
    ),
    "jumpcloud": Console(
        "JumpCloud",
        "Admin Portal › SSO Applications › Add New Application › Custom Application › "
        "Manage Single Sign-On (SSO) › Configure SSO with SAML",
        (
            ("IdP Entity ID", "a name of your choice, unique per app"),
            ("SP Entity ID", "{entity_id}"),
            ("ACS URLs", "{acs}"),
            ("Login URL", "{login}"),
            ("SAMLSubject NameID", "email"),
            ("SAMLSubject NameID Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"),
            ("Signature Algorithm", "RSA-SHA256"),
            ("Sign", "Assertion (or Response)"),
            ("User Attributes", "email = email, firstName = firstname, lastName = lastname"),
            ("Group Attributes", "include group attribute, named groups"),
        ),
        ("jumpcloud",),
    ),
    "pingone": Console(
        "PingOne",
        "Admin console › Applications › Applications › + › SAML application › Configure › "
        "Manually enter",
        (
            ("ACS URLs", "{acs}"),
            ("Entity ID", "{entity_id}"),
            ("SLO Endpoint", "{single_logout}"),
            ("SLO Binding", "HTTP Redirect"),
            ("Subject NameID Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"),
            ("Signing Key", "Sign Assertion & Response"),
            ("Signing Algorithm", "RSA_SHA256"),
            ("Attribute Mappings", "saml_subject = Email Address, Email = Email Address, "
             "FirstName = Given Name, LastName = Family Name, groups = Group Names"),
        ),
        ("pingone.com", "pingone.eu", "pingone.asia", "pingone.ca"),
    ),
    "pingfederate": Console(
        "PingFederate",
        "Administrative console › Applications › SP Connections › Create Connection › "
        "Browser SSO profiles, SAML 2.0",
        (
            ("Import Metadata: URL", "{metadata}"),
            ("Partner's Entity ID (Connection ID)", "{entity_id}"),
            ("SAML Profiles", "IdP-Initiated SSO, SP-Initiated SSO, SP-Initiated SLO"),
            ("Assertion Consumer Service URL (POST)", "{acs}"),
            ("SLO Service URLs (Redirect)", "{single_logout}"),
            ("Identity Mapping", "Standard"),
            ("Attribute Contract", "SAML_SUBJECT, email, FirstName, LastName, groups"),
            ("Signature Policy", "Always sign the SAML Assertion"),
        ),
    ),
    "auth0": Console(
        "Auth0",
        "Dashboard › Applications › your Regular Web Application › Addons › SAML2 Web App › "
        "Settings",
        (
            ("Application Callback URL", "{acs}"),
            ("Settings: audience", "{entity_id}"),
            ("Settings: signatureAlgorithm, digestAlgorithm", "rsa-sha256, sha256"),
            ("Settings: logout", '{{"callback": "{single_logout}", "slo_enabled": true}}'),
        ),
        ("auth0.com",),
    ),
    "aws": Console(
        "AWS IAM Identity Center",
        "IAM Identity Center console › Applications › Add application › I have an application "
        "I want to set up › SAML 2.0",
        (
            ("Application start URL", "{login}"),
            ("Application ACS URL", "{acs}"),
            ("Application SAML audience", "{entity_id}"),
            ("Attribute mappings: Subject", "${{user:email}}, format emailAddress"),
            ("Attribute mappings: email, firstName, lastName",
             "${{user:email}}, ${{user:givenName}}, ${{user:familyName}}, format unspecified"),
        ),
        ("amazonaws.com",),
    ),
    "shibboleth": Console(
        "Shibboleth IdP",
        "conf/metadata-providers.xml, conf/attribute-filter.xml, conf/relying-party.xml",
        (
            ("MetadataProvider metadataURL (FileBackedHTTPMetadataProvider)", "{metadata}"),
            ("AttributeFilterPolicy › Requester value", "{entity_id}"),
            ("Attributes released", "mail, givenName, sn (and isMemberOf for groups)"),
            ("NameID (saml-nameid.xml)", "persistent, or emailAddress from mail"),
        ),
        ("/idp/shibboleth",),
    ),
    "simplesamlphp": Console(
        "SimpleSAMLphp",
        "metadata/saml20-sp-remote.php (or metarefresh from our metadata URL)",
        (
            ("$metadata key (our entity ID)", "{entity_id}"),
            ("AssertionConsumerService", "{acs}"),
            ("SingleLogoutService", "{single_logout}"),
            ("metarefresh src", "{metadata}"),
            ("NameIDFormat", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"),
            ("authproc", "saml:PersistentNameID (the default NameID is transient)"),
        ),
        ("simplesaml",),
    ),
}  # fmt: skip


def for_product(product, urls):
    """``(product name, where, [(field, value)])`` of ``product`` (a key of CONSOLES) for an IdP
    whose URLs are ``urls`` (config.SpUrls)."""
    console = CONSOLES[product]
    # OneLogin asks for a regular expression matching our ACS URL.
    ours = asdict(urls) | {"acs_pattern": f"^{re.escape(urls.acs)}$"}
    return console.product, console.where, [(f, v.format(**ours)) for f, v in console.fields]


def product_of(entity_id):
    """The key of the product whose entity IDs look like ``entity_id``, or None."""
    for product, console in CONSOLES.items():
        if any(mark in entity_id for mark in console.entity_id_marks):
            return product
    return None


def for_identity_provider(identity_provider, urls):
    """Every product's ``(product name, where, fields)``; the one ``identity_provider``'s entity
    ID names comes first."""
    first = product_of(identity_provider.entity_id)
    order = sorted(CONSOLES, key=lambda product: product != first)
    return [for_product(product, urls) for product in order]
