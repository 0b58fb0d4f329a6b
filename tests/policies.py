"""Identity policies a host project might write: what SAML_IDPS_POLICY names."""

from saml_idps.policy import IdentityPolicy


class ApprovedAccountsPolicy(IdentityPolicy):
    """New accounts wait for an admin to activate them."""

    def new_user(self, identity_provider, name_id, email):
        user = super().new_user(identity_provider, name_id, email)
        user.is_active = False
        return user


class NeverLinkAutomaticallyPolicy(IdentityPolicy):
    """An existing account is linked to an IdP by an admin only, whatever its email."""

    def may_link_automatically(self, identity_provider, user):
        return False


class UsernameTakenMeanwhilePolicy(IdentityPolicy):
    """The username chosen for a new account is taken by another sign-in before the INSERT,
    ``times`` times in a row: the race tests/test_concurrent_logins.py runs for real."""

    def __init__(self, taken, times):
        self.taken, self.times = taken, times

    def unique_username(self, base):
        if self.times:
            self.times -= 1
            return self.taken
        return super().unique_username(base)


class PerIdentityProviderPolicy(IdentityPolicy):
    """Decides by the IdP at hand: only the company's own IdP (slug ``idp-a``) links existing
    accounts, and each new account is named after the IdP that created it."""

    def may_link_automatically(self, identity_provider, user):
        return identity_provider.slug == "idp-a" and super().may_link_automatically(
            identity_provider, user
        )

    def new_user(self, identity_provider, name_id, email):
        user = super().new_user(identity_provider, name_id, email)
        user.last_name = f"(from {identity_provider.name})"
        return user


class NamesOnlyPolicy(IdentityPolicy):
    """IdPs set names only; the email an account has is the host's to manage."""

    def assignable_fields(self, identity_provider):
        return ("first_name", "last_name")
