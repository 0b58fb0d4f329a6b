"""SCIM requests in tests: the resources Okta and Entra ID send, and a client for them."""

import json

SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim_user(user_name, **attributes):
    return {"schemas": [USER_SCHEMA], "userName": user_name, "active": True, **attributes}


def okta_user(user_name, **attributes):
    """A user as Okta creates it (its SCIM 2.0 guide: POST /Users), with the password Okta
    sends whether or not the app wants one."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
        **attributes,
    }


def entra_user(user_name, **attributes):
    """A user as Microsoft Entra ID creates it (its SCIM guide: POST /Users)."""
    return {
        "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Test User", "familyName": "User", "givenName": "Test"},
        "roles": [],
        **attributes,
    }


def scim_group(display_name, *member_ids):
    members = [{"value": member_id} for member_id in member_ids]
    return {"schemas": [GROUP_SCHEMA], "displayName": display_name, "members": members}


def patch(*operations):
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


class ScimClientMixin:
    """A test case's SCIM client: requests to an IdP's service with its token (``token_a``
    unless told), and the resources they make."""

    def scim(self, method, path, body=None, slug="idp-a", token=None, **extra):
        """``extra``: more of the request's WSGI environment (REMOTE_ADDR, headers)."""
        token = self.token_a if token is None else token
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        headers |= extra
        response = self.client.generic(
            method,
            f"/scim/{slug}/v2{path}",
            json.dumps(body) if body is not None else "",
            content_type=SCIM_JSON,
            **headers,
        )
        response.json = json.loads(response.content) if response.content else None
        return response

    def assertScimError(self, response, status):
        self.assertEqual(response.status_code, status, response.content)
        self.assertEqual(response["Content-Type"], SCIM_JSON)
        self.assertEqual(response.json["status"], str(status))
        self.assertIn("urn:ietf:params:scim:api:messages:2.0:Error", response.json["schemas"])

    def create_user(self, user_name="alice@example.com", slug="idp-a", token=None, **attributes):
        response = self.scim("POST", "/Users", scim_user(user_name, **attributes), slug, token)
        self.assertEqual(response.status_code, 201, response.content)
        return response.json

    def total(self, scim_filter, resource="/Users"):
        """How many resources a filter finds."""
        return self.scim("GET", f"{resource}?filter={scim_filter}").json["totalResults"]

    def create_group(self, display_name, *member_ids):
        """The new group's path."""
        response = self.scim("POST", "/Groups", scim_group(display_name, *member_ids))
        self.assertEqual(response.status_code, 201, response.content)
        return f"/Groups/{response.json['id']}"
