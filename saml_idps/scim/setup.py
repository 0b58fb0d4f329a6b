"""What an IdP's admin enters in the IdP's console so that it provisions here over SCIM: one
list per product, shown by the IdP's admin change page, its token page and
``manage.py saml_idps show``."""

BEARER = "a SCIM token of this IdP (made on its admin page, or by manage.py saml_idps scim-token)"


def consoles(identity_provider, urls):
    """``[(product, where in its console, [(field, value), ...]), ...]`` for
    ``identity_provider`` whose URLs are ``urls`` (config.SpUrls)."""
    return [
        (
            "Okta",
            "Applications › the app › General › App Settings: Provisioning SCIM; then "
            "Provisioning › Integration",
            [
                ("SCIM connector base URL", urls.scim),
                ("Unique identifier field for users", identity_provider.scim_user_identifier),
                (
                    "Supported provisioning actions",
                    "Import New Users and Profile Updates, Push New Users, Push Profile Updates, "
                    "Push Groups",
                ),
                ("Authentication Mode", "HTTP Header"),
                ("Authorization (Bearer)", BEARER),
            ],
        ),
        (
            "Microsoft Entra ID",
            "Enterprise applications › the app › Provisioning: Provisioning Mode Automatic, "
            "Admin Credentials",
            [
                ("Tenant URL", urls.scim),
                ("Secret Token", BEARER),
            ],
        ),
    ]
