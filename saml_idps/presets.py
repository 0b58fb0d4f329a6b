"""Attribute names as the common IdPs send them: the presets of an IdP's attribute mapping."""

CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"

PRESETS = {
    "okta": {
        "label": "Okta",
        "attribute_mapping": {
            "FirstName": ["first_name"],
            "LastName": ["last_name"],
            "Email": ["email"],
        },
        "groups_attribute": "groups",
    },
    "entra": {
        "label": "Microsoft Entra ID",
        "attribute_mapping": {
            f"{CLAIMS}givenname": ["first_name"],
            f"{CLAIMS}surname": ["last_name"],
            f"{CLAIMS}emailaddress": ["email"],
        },
        "groups_attribute": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    },
    "google": {
        "label": "Google Workspace",
        "attribute_mapping": {
            "firstName": ["first_name"],
            "lastName": ["last_name"],
            "email": ["email"],
        },
        "groups_attribute": "groups",
    },
    "adfs": {
        "label": "ADFS",
        "attribute_mapping": {
            f"{CLAIMS}givenname": ["first_name"],
            f"{CLAIMS}surname": ["last_name"],
            f"{CLAIMS}emailaddress": ["email"],
        },
        "groups_attribute": "http://schemas.xmlsoap.org/claims/Group",
    },
    "keycloak": {
        # Keycloak's X500 mappers send OIDs, which pysaml2 turns into these names.
        "label": "Keycloak",
        "attribute_mapping": {
            "givenName": ["first_name"],
            "surname": ["last_name"],
            "sn": ["last_name"],
            "email": ["email"],
            "emailAddress": ["email"],
        },
        "groups_attribute": "Role",
    },
    "generic": {
        "label": "Generic (all of the above)",
        # Later entries win when several are present.
        "attribute_mapping": {
            "givenName": ["first_name"],
            "firstName": ["first_name"],
            f"{CLAIMS}givenname": ["first_name"],
            "FirstName": ["first_name"],
            "sn": ["last_name"],
            "surname": ["last_name"],
            "lastName": ["last_name"],
            f"{CLAIMS}surname": ["last_name"],
            "LastName": ["last_name"],
            "mail": ["email"],
            "emailAddress": ["email"],
            "email": ["email"],
            f"{CLAIMS}emailaddress": ["email"],
            "Email": ["email"],
        },
        "groups_attribute": "groups",
    },
}


def default_attribute_mapping():
    """The mapping of a new IdP: every common name, so Okta and most others work untouched."""
    return {name: list(fields) for name, fields in PRESETS["generic"]["attribute_mapping"].items()}
