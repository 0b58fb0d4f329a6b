"""The SCIM service of each IdP, /scim/<slug>/v2/: who may call it, what one IdP's token can
reach, and the requests Okta and Entra ID send."""

import json
from datetime import timedelta

from django.core.cache import cache
from django.test import TestCase, override_settings
from django.utils import timezone
from scim2_models import PreconditionFailedException

from saml_idps import audit
from saml_idps.models import ScimEvent, ScimResource
from saml_idps.scim import tokens
from saml_idps.scim.storage import RESOURCE_TYPES, IdentityProviderStorage

from .fixtures import register, shared_idp
from .scim import (
    GROUP_SCHEMA,
    SCIM_JSON,
    USER_SCHEMA,
    ScimClientMixin,
    entra_user,
    okta_user,
    patch,
    scim_group,
    scim_user,
)


class ScimTestCase(ScimClientMixin, TestCase):
    def setUp(self):
        cache.clear()  # the failure counts of other tests' clients
        self.row_a = register(shared_idp("idp-a"), "idp-a", scim_enabled=True)
        self.row_b = register(shared_idp("idp-b"), "idp-b", scim_enabled=True)
        self.token_a, self.token_b = tokens.issue(self.row_a), tokens.issue(self.row_b)


class AuthenticationTests(ScimTestCase):
    def test_a_request_without_a_token_is_refused_with_a_bearer_challenge(self):
        response = self.scim("GET", "/Users", token="")
        self.assertScimError(response, 401)
        self.assertIn("Bearer", response["WWW-Authenticate"])

    def test_discovery_needs_a_token_too(self):
        self.assertScimError(self.scim("GET", "/ServiceProviderConfig", token=""), 401)

    def test_another_idps_token_is_refused(self):
        self.assertScimError(self.scim("GET", "/Users", token=self.token_b), 401)

    def test_an_idp_with_provisioning_off_has_no_service(self):
        self.row_a.scim_enabled = False
        self.row_a.save()
        self.assertScimError(self.scim("GET", "/Users"), 404)

    def test_an_unknown_idp_has_no_service(self):
        self.assertScimError(self.scim("GET", "/Users", slug="nobody"), 404)

    def test_each_refusal_is_in_the_audit_log(self):
        self.scim("GET", "/Users", token="wrong")
        event = ScimEvent.objects.get()
        self.assertEqual((event.identity_provider, event.status), (self.row_a, 401))
        self.assertEqual((event.action, event.client_ip), ("GET /Users", "127.0.0.1"))

    def guess(self, times, slug="idp-a"):
        for _ in range(times):
            self.scim("GET", "/Users", slug=slug, token="guess")

    @override_settings(SAML_IDPS_SCIM_MAX_FAILURES=3)
    def test_a_client_that_keeps_guessing_is_told_when_to_come_back(self):
        self.guess(3)
        response = self.scim("GET", "/Users", token="guess")
        self.assertScimError(response, 429)
        self.assertEqual(response["Retry-After"], "300")

    @override_settings(SAML_IDPS_SCIM_MAX_FAILURES=3)
    def test_a_flood_of_bad_tokens_cannot_lock_the_idp_out(self):
        self.guess(5)
        self.assertEqual(self.scim("GET", "/Users").status_code, 200)

    @override_settings(SAML_IDPS_SCIM_MAX_FAILURES=3)
    def test_a_stopped_client_is_logged_once_per_window(self):
        self.guess(10)
        self.assertEqual(ScimEvent.objects.filter(status=401).count(), 3)
        self.assertEqual(ScimEvent.objects.filter(status=429).count(), 1)

    def test_a_refusal_while_provisioning_is_off_is_logged(self):
        self.row_a.scim_enabled = False
        self.row_a.save()
        self.scim("GET", "/Users")
        self.assertEqual(ScimEvent.objects.get().status, 404)

    @override_settings(SAML_IDPS_SCIM_MAX_FAILURES=3)
    def test_guesses_at_one_idp_do_not_stop_another(self):
        self.guess(4)
        self.assertScimError(self.scim("GET", "/Users", slug="idp-b", token="guess"), 401)

    @override_settings(SAML_IDPS_SCIM_MAX_FAILURES=3)
    def test_one_clients_guesses_do_not_stop_another(self):
        self.guess(4)
        other = self.scim("GET", "/Users", token="guess", REMOTE_ADDR="192.0.2.7")
        self.assertScimError(other, 401)

    def test_a_change_is_in_the_audit_log_with_its_token(self):
        self.create_user("alice@example.com")
        self.assertEqual(ScimEvent.objects.get().token.hint, self.token_a[:8])

    def test_a_refused_read_is_in_the_audit_log_with_the_error(self):
        self.scim("GET", '/Users?filter=userName eq "a" and (')
        event = ScimEvent.objects.get()
        self.assertEqual(event.status, 400)
        self.assertIn('"scimType": "invalidFilter"', event.detail)

    def test_a_long_path_is_logged_cut_to_its_column(self):
        self.scim("DELETE", "/Users/" + "a" * 100)
        self.assertEqual(len(ScimEvent.objects.get().action), 64)


class DiscoveryTests(ScimTestCase):
    def test_the_configuration_says_what_is_not_supported(self):
        config = self.scim("GET", "/ServiceProviderConfig").json
        supported = {
            feature: config[feature]["supported"]
            for feature in ["patch", "bulk", "filter", "changePassword", "sort", "etag"]
        }
        self.assertEqual(
            supported,
            {
                "patch": True,
                "bulk": False,
                "filter": True,
                "changePassword": False,
                "sort": False,
                "etag": False,
            },
        )
        self.assertEqual(config["authenticationSchemes"][0]["type"], "oauthbearertoken")

    def test_users_and_groups_are_served(self):
        names = {r["name"] for r in self.scim("GET", "/ResourceTypes").json["Resources"]}
        self.assertEqual(names, {"User", "Group"})


class IsolationTests(ScimTestCase):
    def test_an_idp_sees_only_the_users_it_provisioned(self):
        alice = self.create_user("alice@example.com")
        self.create_user("bob@example.com", slug="idp-b", token=self.token_b)
        listed = self.scim("GET", "/Users").json
        self.assertEqual([u["userName"] for u in listed["Resources"]], ["alice@example.com"])
        self.assertScimError(
            self.scim("GET", f"/Users/{alice['id']}", slug="idp-b", token=self.token_b), 404
        )

    def test_an_idp_cannot_change_or_delete_another_idps_user(self):
        alice = self.create_user("alice@example.com")
        for method, body in [
            ("PUT", scim_user("mallory")),
            ("PATCH", patch({"op": "replace", "path": "active", "value": False})),
            ("DELETE", None),
        ]:
            with self.subTest(method=method):
                response = self.scim(
                    method, f"/Users/{alice['id']}", body, slug="idp-b", token=self.token_b
                )
                self.assertScimError(response, 404)
        self.assertTrue(self.scim("GET", f"/Users/{alice['id']}").json["active"])

    def test_the_same_user_name_may_exist_at_two_idps(self):
        self.create_user("alice@example.com")
        self.create_user("alice@example.com", slug="idp-b", token=self.token_b)

    def test_a_group_cannot_take_another_idps_user_as_member(self):
        bob = self.create_user("bob@example.com", slug="idp-b", token=self.token_b)
        self.assertScimError(self.scim("POST", "/Groups", scim_group("Staff", bob["id"])), 400)

    def test_ids_are_not_row_numbers(self):
        alice = self.create_user("alice@example.com")
        self.assertRegex(alice["id"], r"^[0-9a-f]{32}$")


class ListAndFilterTests(ScimTestCase):
    """Okta and Entra ID find users by filters and page through them."""

    def setUp(self):
        super().setUp()
        self.alice = self.create_user("alice@example.com", externalId="a1")
        self.bob = self.create_user("bob@example.com", externalId="b2")
        self.carol = self.create_user("carol@example.com", externalId="c3")

    def found(self, query):
        return [user["userName"] for user in self.scim("GET", f"/Users?{query}").json["Resources"]]

    def test_pages_start_at_start_index_and_hold_count_users(self):
        self.assertEqual(self.found("startIndex=2&count=1"), ["bob@example.com"])
        self.assertEqual(self.found("startIndex=3"), ["carol@example.com"])

    def test_a_user_name_is_found_whatever_its_case(self):
        self.assertEqual(
            self.found('filter=userName eq "ALICE@Example.com"'), ["alice@example.com"]
        )

    def test_and_needs_both_terms(self):
        self.assertEqual(
            self.found('filter=userName eq "alice@example.com" and externalId eq "b2"'), []
        )
        self.assertEqual(
            self.found('filter=userName eq "alice@example.com" and externalId eq "a1"'),
            ["alice@example.com"],
        )

    def test_or_needs_either_term(self):
        found = self.found('filter=userName eq "alice@example.com" or externalId eq "c3"')
        self.assertEqual(found, ["alice@example.com", "carol@example.com"])

    def test_not_inverts(self):
        self.assertEqual(
            self.found('filter=not (userName eq "alice@example.com")'),
            ["bob@example.com", "carol@example.com"],
        )

    def test_operators_other_than_eq_are_answered_too(self):
        self.assertEqual(self.found('filter=userName sw "car"'), ["carol@example.com"])
        self.assertEqual(
            self.found('filter=userName ne "alice@example.com" and externalId eq "b2"'),
            ["bob@example.com"],
        )


class MetaTests(ScimTestCase):
    def test_a_created_user_says_where_it_lives_and_when_it_was_made(self):
        response = self.scim("POST", "/Users", scim_user("alice@example.com"))
        location = f"http://testserver/scim/idp-a/v2/Users/{response.json['id']}"
        self.assertEqual(
            (response["Location"], response.json["meta"]["location"]), (location, location)
        )
        meta = response.json["meta"]
        self.assertEqual(meta["created"], meta["lastModified"])

    def test_a_replaced_user_has_a_new_last_modified_and_keeps_its_creation(self):
        alice = self.create_user("alice@example.com")
        replaced = self.scim(
            "PUT", f"/Users/{alice['id']}", scim_user("alice@example.com", displayName="Alice")
        )
        meta = replaced.json["meta"]
        self.assertEqual(meta["created"], alice["meta"]["created"])
        self.assertGreater(meta["lastModified"], alice["meta"]["lastModified"])
        self.assertEqual(ScimResource.objects.get().version, 2)


class UserTests(ScimTestCase):
    def test_a_user_name_is_unique_per_idp_whatever_its_case(self):
        self.create_user("alice@example.com")
        response = self.scim("POST", "/Users", scim_user("ALICE@example.com"))
        self.assertScimError(response, 409)
        self.assertEqual(response.json["scimType"], "uniqueness")

    def test_a_password_is_never_kept(self):
        alice = self.create_user("alice@example.com", password="hunter2")
        self.scim("PUT", f"/Users/{alice['id']}", scim_user("alice@example.com", password="x2"))
        self.assertNotIn("password", ScimResource.objects.get().data)

    def test_each_change_is_in_the_audit_log(self):
        alice = self.create_user("alice@example.com")
        self.scim("GET", f"/Users/{alice['id']}")
        self.scim("DELETE", f"/Users/{alice['id']}")
        events = ScimEvent.objects.order_by("pk").values_list("action", "status", "detail")
        self.assertEqual(
            list(events),
            [
                (
                    "POST /Users",
                    201,
                    f"id {alice['id']}; alice@example.com: linked as alice@example.com",
                ),
                (
                    f"DELETE /Users/{alice['id']}",
                    204,
                    "alice@example.com: deactivated",
                ),
            ],
        )

    def test_a_user_name_as_long_as_its_column_is_kept(self):
        self.create_user("a" * 512)

    def test_a_user_name_longer_than_its_column_is_refused(self):
        self.assertScimError(self.scim("POST", "/Users", scim_user("a" * 513)), 400)

    def test_display_name_is_not_confused_with_user_name(self):
        self.create_user("alice", displayName="Alice Smith")
        self.assertEqual(self.total('displayName eq "Alice Smith"'), 1)
        self.assertEqual(self.total('displayName eq "alice"'), 0)


class GroupTests(ScimTestCase):
    def test_a_deleted_user_leaves_its_groups(self):
        alice, carol = self.create_user("alice@example.com"), self.create_user("carol@example.com")
        path = self.create_group("Staff", alice["id"], carol["id"])
        self.scim("DELETE", f"/Users/{alice['id']}")
        members = [member["value"] for member in self.scim("GET", path).json["members"]]
        self.assertEqual(members, [carol["id"]])
        removed = patch({"op": "remove", "path": f'members[value eq "{carol["id"]}"]'})
        self.assertEqual(self.scim("PATCH", path, removed).status_code, 200)

    def test_users_are_created_after_groups_too(self):
        self.create_group("Staff")
        self.create_user("alice@example.com")

    def test_a_member_without_a_value_is_refused(self):
        group = scim_group("Staff") | {"members": [{"display": "Alice"}]}
        self.assertScimError(self.scim("POST", "/Groups", group), 400)

    def test_a_change_to_a_stale_version_is_refused(self):
        alice = self.create_user("alice@example.com")
        storage = IdentityProviderStorage(self.row_a)
        user_type = RESOURCE_TYPES["User"]
        current = storage.get(user_type, alice["id"])
        storage.update(user_type, current, expected_version='W/"1"')
        with self.assertRaises(PreconditionFailedException):
            storage.update(user_type, current, expected_version='W/"1"')


class OktaSequenceTests(ScimTestCase):
    """What Okta sends, as its SCIM 2.0 guide documents it."""

    def test_it_looks_a_user_up_by_user_name_then_creates_it(self):
        lookup = '/Users?filter=userName eq "alice@example.com"&startIndex=1&count=100'
        self.assertEqual(self.scim("GET", lookup).json["totalResults"], 0)
        self.create_user("alice@example.com", name={"givenName": "Alice", "familyName": "Doe"})
        found = self.scim("GET", lookup).json
        self.assertEqual(
            (found["totalResults"], found["Resources"][0]["name"]["familyName"]), (1, "Doe")
        )

    def test_its_documented_user_is_created_without_keeping_the_password(self):
        created = self.scim("POST", "/Users", okta_user("alice@example.com"))
        self.assertEqual(created.status_code, 201, created.content)
        self.assertNotIn("password", ScimResource.objects.get().data)

    def test_it_deactivates_and_reactivates_with_patch(self):
        alice = self.create_user("alice@example.com")
        for active in (False, True):
            response = self.scim(
                "PATCH",
                f"/Users/{alice['id']}",
                patch({"op": "replace", "value": {"active": active}}),
            )
            self.assertEqual((response.status_code, response.json["active"]), (200, active))

    def test_it_pushes_a_group_and_its_members(self):
        alice, bob = self.create_user("alice@example.com"), self.create_user("bob@example.com")
        path = self.create_group("Staff", alice["id"])
        self.scim(
            "PATCH", path, patch({"op": "add", "path": "members", "value": [{"value": bob["id"]}]})
        )
        self.scim(
            "PATCH", path, patch({"op": "remove", "path": f'members[value eq "{alice["id"]}"]'})
        )
        members = [m["value"] for m in self.scim("GET", path).json["members"]]
        self.assertEqual(members, [bob["id"]])


class EntraSequenceTests(ScimTestCase):
    """What Microsoft Entra ID sends, as its SCIM guide documents it."""

    def test_it_deactivates_with_a_capitalised_op_and_a_string_false(self):
        alice = self.create_user("alice@example.com")
        response = self.scim(
            "PATCH",
            f"/Users/{alice['id']}",
            patch({"op": "Replace", "path": "active", "value": "False"}),
        )
        self.assertEqual((response.status_code, response.json["active"]), (200, False))

    def test_it_removes_a_member_by_value(self):
        alice = self.create_user("alice@example.com")
        path = self.create_group("Staff", alice["id"])
        self.scim(
            "PATCH",
            path,
            patch({"op": "Remove", "path": "members", "value": [{"value": alice["id"]}]}),
        )
        self.assertFalse(self.scim("GET", path).json.get("members"))

    def test_it_sets_a_manager_by_its_bare_id(self):
        alice = self.create_user("alice@contoso.com")
        manager = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
        response = self.scim(
            "PATCH",
            f"/Users/{alice['id']}",
            patch({"op": "Add", "path": manager, "value": "2819c223-7f76-453a-919d-413861904646"}),
        )
        self.assertEqual(response.status_code, 200, response.content)
        enterprise = response.json["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
        self.assertEqual(enterprise["manager"]["value"], "2819c223-7f76-453a-919d-413861904646")

    def test_its_documented_user_is_created(self):
        self.assertEqual(
            self.scim("POST", "/Users", entra_user("alice@contoso.com")).status_code, 201
        )

    def test_it_finds_users_by_external_id(self):
        self.create_user("alice@contoso.com", externalId="a1b2")
        self.assertEqual(self.total('externalId eq "a1b2"'), 1)
        self.assertEqual(self.total('externalId eq "A1B2"'), 0)


class AuditRetentionTests(ScimTestCase):
    @override_settings(SAML_IDPS_AUDIT_RETENTION_DAYS=30)
    def test_events_older_than_the_retention_are_pruned_with_login_attempts(self):
        self.scim("GET", "/Users", token="guess")
        ScimEvent.objects.update(created_at=timezone.now() - timedelta(days=31))
        self.scim("GET", "/Users", token="guess")
        self.assertEqual(audit.prune(), 1)
        self.assertEqual(ScimEvent.objects.count(), 1)


class BadInputTests(ScimTestCase):
    """Garbage and attacks get a SCIM error, and nothing is stored."""

    def post_raw(self, body):
        return self.client.generic(
            "POST",
            "/scim/idp-a/v2/Users",
            body,
            content_type=SCIM_JSON,
            HTTP_AUTHORIZATION=f"Bearer {self.token_a}",
        )

    def assertNothingStored(self):
        self.assertFalse(ScimResource.objects.exists())

    def test_a_body_that_is_not_json_is_refused(self):
        response = self.post_raw("{not json")
        self.assertEqual(response.status_code, 400, response.content)
        self.assertEqual(json.loads(response.content)["status"], "400")
        self.assertNothingStored()

    def test_a_user_without_user_name_is_refused(self):
        self.assertScimError(self.scim("POST", "/Users", {"schemas": [USER_SCHEMA]}), 400)
        self.assertNothingStored()

    def test_a_filter_that_does_not_parse_is_refused(self):
        response = self.scim("GET", '/Users?filter=userName eq "a" and (')
        self.assertScimError(response, 400)
        self.assertEqual(response.json["scimType"], "invalidFilter")

    def assertRefusedAs(self, response, status, scim_type):
        self.assertScimError(response, status)
        self.assertEqual(response.json["scimType"], scim_type)

    def test_a_body_that_is_not_json_by_its_type_is_refused(self):
        response = self.client.generic(
            "POST",
            "/scim/idp-a/v2/Users",
            json.dumps(scim_user("alice@example.com")),
            content_type="text/plain",
            HTTP_AUTHORIZATION=f"Bearer {self.token_a}",
        )
        self.assertEqual(response.status_code, 415, response.content)
        self.assertNothingStored()

    def test_a_body_without_schemas_is_refused(self):
        response = self.scim("POST", "/Users", {"userName": "alice@example.com"})
        self.assertRefusedAs(response, 400, "invalidSyntax")
        self.assertNothingStored()

    def test_a_body_with_the_wrong_schemas_is_refused(self):
        body = scim_user("alice@example.com") | {"schemas": [GROUP_SCHEMA]}
        self.assertRefusedAs(self.scim("POST", "/Users", body), 400, "invalidSyntax")
        self.assertNothingStored()

    def test_an_unknown_attribute_is_refused_not_dropped(self):
        body = scim_user("alice@example.com", costCentre="42")
        self.assertRefusedAs(self.scim("POST", "/Users", body), 400, "invalidSyntax")
        self.assertNothingStored()

    def test_a_value_of_the_wrong_type_is_refused(self):
        body = scim_user("alice@example.com", active="perhaps")
        self.assertRefusedAs(self.scim("POST", "/Users", body), 400, "invalidValue")
        self.assertNothingStored()

    @override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
    def test_an_oversized_body_is_refused(self):
        body = scim_user("alice@example.com", displayName="A" * 2000)
        self.assertScimError(self.scim("POST", "/Users", body), 413)
        self.assertNothingStored()

    def test_a_patch_with_a_path_that_does_not_exist_changes_nothing(self):
        alice = self.create_user("alice@example.com", name={"givenName": "Alice"})
        response = self.scim(
            "PATCH",
            f"/Users/{alice['id']}",
            patch(
                {"op": "replace", "path": "name.givenName", "value": "Mallory"},
                {"op": "replace", "path": "nonexistent", "value": "x"},
            ),
        )
        self.assertRefusedAs(response, 400, "invalidPath")
        stored = self.scim("GET", f"/Users/{alice['id']}").json
        self.assertEqual(stored["name"]["givenName"], "Alice")
        self.assertEqual(ScimResource.objects.get().version, 1)

    def test_a_chosen_id_is_not_taken(self):
        created = self.create_user("alice@example.com", id="0" * 32)
        self.assertNotEqual(created["id"], "0" * 32)

    def test_a_put_cannot_move_a_user_to_another_id(self):
        alice = self.create_user("alice@example.com")
        self.scim("PUT", f"/Users/{alice['id']}", scim_user("alice@example.com", id="0" * 32))
        self.assertEqual(
            list(ScimResource.objects.values_list("scim_id", flat=True)), [alice["id"]]
        )
