"""What a sign-in keeps in the browser's two sessions: Django's (through which IdP and link,
with which attributes) and djangosaml2's SAML session (the AuthnRequests sent, the subject
signed in)."""

from djangosaml2 import views as djangosaml2_views

# In Django's session: the IdP a user signed in with (whom /logout/ tells), and the attributes
# of that assertion (for the user page).
SESSION_IDP_SLUG = "saml_idps_slug"
SESSION_ATTRIBUTES = "saml_idps_attributes"
# In Django's session: the pk of the IdentityLink the user signed in through.
SESSION_LINK = "saml_idps_link"
# In the SAML session: the AuthnRequest IDs this browser sent, each with the slug of its IdP.
SESSION_PENDING_REQUESTS = "saml_idps_pending"
# In the SAML session: the AuthnRequest IDs of admins' test sign-ins, each with its test's id.
SESSION_TEST_REQUESTS = "saml_idps_tests"


# djangosaml2 keeps the NameID its single logout sends with two private functions and offers no
# public ones; these two wrappers are the only callers. Checked against djangosaml2 1.12.0.
def remember_subject(saml_session, name_id):
    """Keep the NameID signed in, for djangosaml2's single logout."""
    djangosaml2_views._set_subject_id(saml_session, name_id)


def subject_signed_in(saml_session):
    """The NameID this SAML session signed in with, or None."""
    return djangosaml2_views._get_subject_id(saml_session)
