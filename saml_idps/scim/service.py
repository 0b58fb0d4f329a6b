"""What this SCIM service is: its schemas, resource types and declared features (RFC 7643
§5), and the tolerance for what Okta and Entra ID send. scim2-server speaks the protocol."""

from pydantic import ValidationError
from scim2_models import Context, InvalidSyntaxException, ScimPolicy, ServiceProviderConfig
from scim2_server.service import ScimService, scim_exception_of
from scim2_server.utils import ScimProvider, load_default_resource_types, load_default_schemas

# Entra ID removes a member by giving its value rather than a filter and adds to an email entry
# that does not exist yet: read them as it means them. An attribute no schema here declares is
# refused (400), as the SCIM interoperability profile asks, rather than silently dropped.
POLICY = ScimPolicy(remove_value_as_filter="apply", unmatched_path_filter="create")
# Entra ID sets a manager by its bare id (its SCIM guide), where the schema has {"value": id}.
MANAGER_PATH = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager"

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
    def read_body(self, model, body, content_type, scim_ctx):
        """scim2-server's, with a body that lacks its "schemas" refused (RFC 7643 §3 makes it
        required; the models would default it) and Entra ID's bare manager id read as meant."""
        payload = self.decode_body(body, content_type)
        if not isinstance(payload, dict) or not payload.get("schemas"):
            raise InvalidSyntaxException(detail='The request body has no "schemas".')
        for operation in payload.get("Operations") or []:
            if (
                isinstance(operation, dict)
                and str(operation.get("path", "")).lower() == MANAGER_PATH
                and isinstance(operation.get("value"), str)
            ):
                operation["value"] = {"value": operation["value"]}
        try:
            return model.model_validate(payload, scim_ctx=scim_ctx)
        except ValidationError as exception:
            raise scim_exception_of(exception) from exception

    def patch_response(self, base_url, resource, response_parameters):
        """200 with the changed resource, as Okta's SCIM guide shows it (RFC 7644 §3.5.2 also
        allows 204; Entra ID takes either)."""
        return self.resource_response(
            self.publish(base_url, resource),
            Context.RESOURCE_REPLACEMENT_RESPONSE,
            response_parameters,
        )


SERVICE = IdentityProviderScimService(PROVIDER)
