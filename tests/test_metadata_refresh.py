"""Refreshing an IdP's metadata: every fault keeps the last good copy, and logins keep working."""

import gzip
import io
import re
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.checks import Tags
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from saml_idps import metadata
from saml_idps.checks import check_certificate_expiry
from saml_idps.models import IdentityProvider, MetadataChange

from .fixtures import (
    MetadataServer,
    SamlTestCase,
    closed_port_url,
    in_aggregate,
    with_root_attributes,
    xml_route,
)
from .idp import TestIdentityProvider

# Everything a refresh may change on the row when it applies a new copy.
LAST_GOOD_COPY = [
    "entity_id",
    "metadata_xml",
    "metadata_valid_until",
    "metadata_refresh_at",
    "metadata_fetched_at",
    "metadata_etag",
    "signing_certificates",
    "certificates_expire_at",
]


def with_second_certificate(xml, other_xml):
    """``xml`` with the signing KeyDescriptor of ``other_xml`` added: a certificate rollover."""
    # Both documents come from pysaml2 in this process, so they use the same namespace prefixes.
    pattern = r"<(?:\w+:)?KeyDescriptor\b.*?</(?:\w+:)?KeyDescriptor>"
    key_descriptor = re.search(pattern, other_xml, re.DOTALL).group(0)
    first = re.search(r"<(?:\w+:)?KeyDescriptor\b", xml).start()
    return xml[:first] + key_descriptor + xml[first:]


def slow_drip(handler):
    """Headers at once, then one byte every 0.2 s: each read is quick, the whole never ends."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/xml")
    handler.end_headers()
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass  # the client gave up, as it should


@override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)
class RefreshTests(SamlTestCase):
    def setUp(self):
        super().setUp()
        self.server = MetadataServer(self, {"/metadata": xml_route(self.idp_a.metadata_xml)})
        self.row_a.metadata_url = self.server.url("/metadata")
        self.row_a.save()

    def serve(self, route):
        self.server.routes["/metadata"] = route

    def assertRefreshFailsSafely(self, reason):
        before = IdentityProvider.objects.values(*LAST_GOOD_COPY).get(pk=self.row_a.pk)
        history = MetadataChange.objects.count()
        result = metadata.refresh(self.row_a)
        self.assertEqual(result.outcome, "error", result.detail)
        self.assertIn(reason, result.detail)
        row = IdentityProvider.objects.get(pk=self.row_a.pk)
        self.assertIn(reason, row.last_error)
        self.assertEqual(IdentityProvider.objects.values(*LAST_GOOD_COPY).get(pk=row.pk), before)
        self.assertEqual(MetadataChange.objects.count(), history)
        self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))

    def test_server_down(self):
        self.row_a.metadata_url = closed_port_url()
        self.row_a.save()
        self.assertRefreshFailsSafely("Could not fetch the metadata")

    def test_http_500(self):
        self.serve((500, {}, b"Internal Server Error"))
        self.assertRefreshFailsSafely("HTTP 500")

    @override_settings(SAML_IDPS_METADATA_TIMEOUT=(1, 1))
    def test_slow_drip_past_the_timeout(self):
        self.serve(slow_drip)
        started = time.monotonic()
        self.assertRefreshFailsSafely("did not answer in time")
        self.assertLess(time.monotonic() - started, 8)

    def test_oversized_body(self):
        self.serve(xml_route(b"<x>" + b" " * (6 * 1024 * 1024) + b"</x>"))
        self.assertRefreshFailsSafely("larger than")

    def test_gzip_bomb(self):
        bomb = gzip.compress(b"<x>" + b" " * (50 * 1024 * 1024) + b"</x>")
        self.assertLess(len(bomb), 100 * 1024)
        self.serve(xml_route(bomb, **{"Content-Encoding": "gzip"}))
        self.assertRefreshFailsSafely("larger than")

    def test_non_xml(self):
        self.serve((200, {"Content-Type": "text/html"}, b"<html><p>Maintenance</html>"))
        self.assertRefreshFailsSafely("not well-formed XML")

    def test_xxe_and_doctype(self):
        for document in [
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b;</x>',
        ]:
            with self.subTest(document=document[:40]):
                self.serve(xml_route(document))
                self.assertRefreshFailsSafely("DOCTYPE")

    def test_redirect_to_a_private_address(self):
        self.serve((302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""))
        self.assertRefreshFailsSafely("redirects are not followed")

    def test_entity_id_swap(self):
        self.serve(xml_route(self.idp_b.metadata_xml))
        self.assertRefreshFailsSafely("now describes the entity")

    def test_metadata_that_expired_already(self):
        self.serve(
            xml_route(
                with_root_attributes(self.idp_a.metadata_xml, validUntil="2020-01-01T00:00:00Z")
            )
        )
        self.assertRefreshFailsSafely("expired on 2020-01-01")

    def test_pinned_certificate_refuses_unsigned_metadata(self):
        self.row_a.metadata_signing_certificate = self.idp_a.certificate_pem
        self.row_a.save()
        self.assertRefreshFailsSafely("not signed")

    def test_pinned_certificate_refuses_metadata_signed_by_another_key(self):
        self.row_a.metadata_signing_certificate = self.idp_a.certificate_pem
        self.row_a.save()
        impostor = TestIdentityProvider("impostor", entity_id=self.idp_a.entity_id)
        self.serve(xml_route(impostor.signed_metadata_xml()))
        self.assertRefreshFailsSafely("does not verify with the pinned certificate")

    def test_pinned_certificate_accepts_metadata_it_signed(self):
        self.row_a.metadata_signing_certificate = self.idp_a.certificate_pem
        self.row_a.save()
        self.serve(xml_route(self.idp_a.signed_metadata_xml()))
        self.assertEqual(metadata.refresh(self.row_a).outcome, "updated")
        self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))

    def test_a_304_keeps_the_verdict_on_the_signature_of_the_copy_it_confirms(self):
        self.row_a.metadata_signing_certificate = self.idp_a.certificate_pem
        self.row_a.save()
        self.serve(xml_route(self.idp_a.signed_metadata_xml(), ETag='"v1"'))
        self.assertEqual(metadata.refresh(self.row_a).outcome, "updated")
        self.assertEqual(metadata.refresh(self.row_a).outcome, "unchanged")
        self.assertEqual(self.server.requests[-1].get("If-None-Match"), '"v1"')
        self.assertEqual(
            IdentityProvider.objects.get(pk=self.row_a.pk).metadata_signature, "pinned"
        )

    def test_same_document_is_unchanged_and_records_no_history(self):
        history = MetadataChange.objects.count()
        result = metadata.refresh(self.row_a)
        self.assertEqual((result.outcome, result.detail), ("unchanged", ""))
        self.assertEqual(MetadataChange.objects.count(), history)
        self.assertIsNotNone(IdentityProvider.objects.get(pk=self.row_a.pk).metadata_fetched_at)

    def test_conditional_get_uses_the_etag_and_a_304_is_unchanged(self):
        self.serve(xml_route(self.idp_a.metadata_xml, ETag='"v1"'))
        metadata.refresh(self.row_a)
        result = metadata.refresh(self.row_a)
        self.assertEqual(result.outcome, "unchanged")
        self.assertEqual(self.server.requests[-1].get("If-None-Match"), '"v1"')

    def test_a_changed_document_is_applied_though_the_last_copy_had_an_etag(self):
        self.serve(xml_route(self.idp_a.metadata_xml, ETag='"v1"'))
        metadata.refresh(self.row_a)
        changed = with_second_certificate(self.idp_a.metadata_xml, self.idp_b.metadata_xml)
        self.serve(xml_route(changed, ETag='"v2"'))
        result = metadata.refresh(self.row_a)
        self.assertEqual(result.outcome, "updated", result.detail)
        self.assertIn("Signing certificate added", result.detail)
        self.assertEqual(IdentityProvider.objects.get(pk=self.row_a.pk).metadata_etag, '"v2"')

    def test_certificate_rollover_is_recorded_and_signs_in_with_either_certificate(self):
        successor = TestIdentityProvider("idp-a-next", entity_id=self.idp_a.entity_id)
        for sp in self.idp_a.trusted:
            successor.trust(sp)
        rollover = with_second_certificate(self.idp_a.metadata_xml, successor.metadata_xml)
        self.serve(xml_route(rollover))

        result = metadata.refresh(self.row_a)

        self.assertEqual(result.outcome, "updated")
        self.assertIn("Signing certificate added: CN=idp-a-next", result.detail)
        change = MetadataChange.objects.latest("pk")
        self.assertEqual((change.source, change.summary), (self.row_a.metadata_url, result.detail))
        self.assertEqual(
            len(IdentityProvider.objects.get(pk=self.row_a.pk).signing_certificates), 2
        )
        self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))
        self.client.logout()
        self.assertSignedIn(self.idp_initiated(successor, "idp-a"))

    def test_removed_certificate_no_longer_signs_in(self):
        successor = TestIdentityProvider("idp-a-only", entity_id=self.idp_a.entity_id)
        self.serve(xml_route(successor.metadata_xml))
        result = metadata.refresh(self.row_a)
        self.assertIn("Signing certificate removed: CN=idp-a", result.detail)
        self.assertRefused(
            self.idp_initiated(self.idp_a, "idp-a"),
            "signature_invalid",
            "signature could not be verified",
        )

    def next_refresh_with(self, cache_duration):
        """When a refresh of metadata stating ``cache_duration`` schedules the next one."""
        xml = with_root_attributes(self.idp_a.metadata_xml, cacheDuration=cache_duration)
        self.serve(xml_route(xml))
        metadata.refresh(self.row_a)
        return IdentityProvider.objects.get(pk=self.row_a.pk).metadata_refresh_at

    def test_cache_duration_sets_the_next_refresh(self):
        next_refresh = self.next_refresh_with("PT1H")
        self.assertAlmostEqual(
            next_refresh, timezone.now() + timedelta(hours=1), delta=timedelta(minutes=1)
        )

    def test_a_cache_duration_under_five_minutes_is_raised_to_five(self):
        next_refresh = self.next_refresh_with("PT10S")
        self.assertAlmostEqual(
            next_refresh, timezone.now() + timedelta(minutes=5), delta=timedelta(seconds=30)
        )

    def test_without_cache_duration_or_valid_until_the_next_refresh_is_in_24_hours(self):
        metadata.refresh(self.row_a)
        next_refresh = IdentityProvider.objects.get(pk=self.row_a.pk).metadata_refresh_at
        self.assertAlmostEqual(
            next_refresh, timezone.now() + timedelta(hours=24), delta=timedelta(minutes=1)
        )

    def test_valid_until_comes_before_a_longer_cache_duration(self):
        soon = (timezone.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        document = with_root_attributes(
            self.idp_a.metadata_xml, validUntil=soon, cacheDuration="P7D"
        )
        self.serve(xml_route(document))
        metadata.refresh(self.row_a)
        row = IdentityProvider.objects.get(pk=self.row_a.pk)
        self.assertEqual(row.metadata_refresh_at, row.metadata_valid_until)
        self.assertAlmostEqual(
            row.metadata_valid_until,
            timezone.now() + timedelta(hours=2),
            delta=timedelta(minutes=1),
        )

    def test_aggregate_is_refused_unless_the_idp_names_its_entity(self):
        self.serve(xml_route(in_aggregate(self.idp_b.metadata_xml, self.idp_a.metadata_xml)))
        self.assertRefreshFailsSafely("aggregate")

    def test_the_named_entity_is_taken_from_an_aggregate(self):
        self.row_a.aggregate_entity_id = self.idp_a.entity_id
        self.row_a.save()
        self.serve(xml_route(in_aggregate(self.idp_b.metadata_xml, self.idp_a.metadata_xml)))
        # The entity taken out of the aggregate is the very document registered before.
        self.assertEqual(metadata.refresh(self.row_a).outcome, "unchanged")
        row = IdentityProvider.objects.get(pk=self.row_a.pk)
        self.assertNotIn(self.idp_b.entity_id, row.metadata_xml)
        self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))


@override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)
class ExpiredMetadataTests(SamlTestCase):
    def expire(self):
        self.row_a.metadata_valid_until = timezone.now() - timedelta(minutes=1)
        self.row_a.save()

    def test_login_is_refused_with_a_clear_page_once_valid_until_has_passed(self):
        self.expire()
        for response in [
            self.client.get("/saml/idp-a/login/"),
            self.idp_initiated(self.idp_a, "idp-a"),
        ]:
            self.assertRefused(
                response, "metadata_expired", "The metadata of IdP &#x27;IDP-A&#x27; expired"
            )
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_admin_list_shows_why(self):
        self.expire()
        admin = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
        self.client.force_login(admin)
        page = self.client.get("/admin/saml_idps/identityprovider/")
        self.assertContains(page, "logins refused")

    def test_a_fresh_copy_makes_logins_work_again(self):
        self.expire()
        next_week = (timezone.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        fresh = with_root_attributes(self.idp_a.metadata_xml, validUntil=next_week)
        server = MetadataServer(self, {"/m": xml_route(fresh)})
        self.row_a.metadata_url = server.url("/m")
        self.row_a.save()
        self.assertEqual(metadata.refresh(self.row_a).outcome, "updated")
        self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))


@override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)
class RefreshCommandTests(SamlTestCase):
    def setUp(self):
        super().setUp()
        server = MetadataServer(
            self,
            {"/a": xml_route(self.idp_a.metadata_xml), "/b": (500, {}, b"down")},
        )
        for row, path in [(self.row_a, "/a"), (self.row_b, "/b")]:
            row.metadata_url = server.url(path)
            row.save()

    def run_command(self, *args):
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command("refresh_saml_metadata", *args, stdout=out, stderr=err)
        except CommandError as error:
            return out.getvalue(), err.getvalue(), str(error)
        return out.getvalue(), err.getvalue(), None

    def test_a_numbered_line_per_idp_a_summary_and_failure_when_any_failed(self):
        out, err, failure = self.run_command()
        self.assertEqual(
            out.splitlines(),
            [
                "[1/2] idp-a: unchanged",
                "[2/2] idp-b: failed, the last good copy stays in use. "
                "The server answered HTTP 500.",
            ],
        )
        self.assertEqual(
            failure,
            "0 refreshed, 1 unchanged, 1 failed; the last good copies of those that failed "
            "stay in use.",
        )

    def test_named_slugs_only(self):
        out, err, failure = self.run_command("idp-a")
        self.assertEqual(
            (out.splitlines(), err, failure),
            (["[1/1] idp-a: unchanged", "0 refreshed, 1 unchanged, 0 failed"], "", None),
        )

    def test_nothing_due_says_so(self):
        IdentityProvider.objects.update(metadata_refresh_at=timezone.now() + timedelta(hours=1))
        out, err, failure = self.run_command("--stale-only")
        self.assertEqual(
            out.splitlines(),
            [
                "Nothing to refresh: no IdP with a metadata URL is due.",
                "0 refreshed, 0 unchanged, 0 failed",
            ],
        )

    def test_unknown_slug_is_an_error(self):
        _, _, failure = self.run_command("nope")
        self.assertIn("No identity provider with a metadata URL: nope", failure)

    def test_stale_only_skips_idps_not_due(self):
        IdentityProvider.objects.filter(pk=self.row_b.pk).update(
            metadata_refresh_at=timezone.now() + timedelta(hours=1)
        )
        IdentityProvider.objects.filter(pk=self.row_a.pk).update(
            metadata_refresh_at=timezone.now() - timedelta(minutes=1)
        )
        out, err, failure = self.run_command("--stale-only")
        self.assertEqual((out.splitlines()[0], err, failure), ("[1/1] idp-a: unchanged", "", None))

    def test_admin_action_refreshes_and_reports_each_idp(self):
        admin = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
        self.client.force_login(admin)
        page = self.client.post(
            "/admin/saml_idps/identityprovider/",
            {"action": "refresh_metadata", "_selected_action": [self.row_a.pk, self.row_b.pk]},
            follow=True,
        )
        self.assertContains(page, "IDP-A: unchanged")
        self.assertContains(
            page, "IDP-B: failed, the last good copy stays in use. The server answered HTTP 500."
        )


class CertificateExpiryCheckTests(SamlTestCase):
    def test_warns_about_a_signing_certificate_expiring_within_30_days(self):
        soon = timezone.now() + timedelta(days=10)
        self.row_a.signing_certificates[0]["not_after"] = soon.isoformat()
        self.row_a.certificates_expire_at = soon
        self.row_a.save()
        warnings = check_certificate_expiry(None, databases=["default"])
        self.assertEqual([(w.id, w.obj) for w in warnings], [("saml_idps.W001", self.row_a)])
        self.assertIn("CN=idp-a", warnings[0].msg)

    def test_an_idp_with_several_expiring_certificates_gets_one_warning(self):
        soon = (timezone.now() + timedelta(days=10)).isoformat()
        second = dict(self.row_a.signing_certificates[0], subject="CN=idp-a-next")
        self.row_a.signing_certificates = [
            dict(self.row_a.signing_certificates[0], not_after=soon),
            dict(second, not_after=soon),
        ]
        self.row_a.certificates_expire_at = timezone.now() + timedelta(days=10)
        self.row_a.save()
        (warning,) = check_certificate_expiry(None, databases=["default"])
        self.assertIn("and 1 more", warning.msg)

    def test_the_check_reads_the_database_only_when_database_checks_run(self):
        self.row_a.certificates_expire_at = timezone.now() + timedelta(days=10)
        self.row_a.save()
        with self.assertNumQueries(0):
            self.assertEqual(check_certificate_expiry(None), [])
        self.assertEqual(check_certificate_expiry.tags, (Tags.database,))

    def test_no_warning_for_certificates_valid_for_longer(self):
        self.assertEqual(check_certificate_expiry(None, databases=["default"]), [])

    def test_admin_lists_the_expiry_and_the_change_page_shows_each_certificate(self):
        admin = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
        self.client.force_login(admin)
        certificate = self.row_a.signing_certificates[0]
        listing = self.client.get("/admin/saml_idps/identityprovider/")
        self.assertContains(listing, f"{self.row_a.certificates_expire_at:%Y-%m-%d}")
        page = self.client.get(f"/admin/saml_idps/identityprovider/{self.row_a.pk}/change/")
        self.assertContains(page, certificate["sha256"])
        self.assertContains(page, "CN=idp-a")
        self.assertContains(page, certificate["not_after"][:10])
