"""What this SCIM service is: its schemas, resource types and declared features (RFC 7643
§5), and the tolerance for what Okta and Entra ID send. scim2-server speaks the protocol."""

from scim2_models import Context, ScimPolicy, ServiceProviderConfig
from scim2_server.service import ScimService
from scim2_server.utils import ScimProvider, load_default_resource_types, load_default_schemas

# Entra ID removes a member by giving its value rather than a filter, adds to an email entry
# that does not exist yet, and sends attributes of its own: read them as it means them.
POLICY = ScimPolicy(
    remove_value_as_filter="apply", unmatched_path_filter="create", unknown="ignore"
)

# Declared honestly: what is not supported is said so, and scim2-server refuses it.
CONFIG = ServiceProviderConfig.model_validate(
    {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": 200},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A token of this IdP, made by manage.py saml_idps "
                "scim-token, sent as 'Authorization: Bearer <token>'.",
                "primary": True,
            }
        ],
    }
)

PROVIDER = ScimProvider.from_discovery(
    load_default_schemas().values(),
    load_default_resource_types().values(),
    config=CONFIG,
    policy=POLICY,
)


class IdentityProviderScimService(ScimService):
    def patch_response(self, base_url, resource, response_parameters):
        """200 with the changed resource, as Okta's SCIM guide shows it (RFC 7644 §3.5.2 also
        allows 204; Entra ID takes either)."""
        return self.resource_response(
            self.publish(base_url, resource),
            Context.RESOURCE_REPLACEMENT_RESPONSE,
            response_parameters,
        )


SERVICE = IdentityProviderScimService(PROVIDER)
