"""pytest configuration for `make mutation` only; `manage.py test` does not read this file.

mutmut runs, for each mutant, every selected test that reaches the mutated function. Most tests
sign someone in, so nearly all of them reach every module; this file narrows each mutant's tests
to the suites that can tell a mutant of its module apart (`SUITES_BY_MODULE`):

- metadata code (fetching, checking a document): the tests about metadata (fetching, checking,
  refreshing, real IdPs' documents, signing in through them), without the real IdPs' captured
  responses (CapturedResponseTests), which register metadata written from the response's
  certificate and judge responses, not documents;
- who signs in and what they become (backends, policy): the identity-policy suites, the email
  discovery, an IdP unavailable while its metadata has expired, and the suites that sign in
  (login, per-IdP URLs, real IdPs' responses), not the refusals decided before anyone is looked
  up (attacks, hostile input, logout, SP keys);
- SCIM: the policy's provisioning hooks are also judged by the SCIM account suite; the
  middleware that ends a session whose link is cut, by that suite and the login and logout
  suites (every test passes through it); the saml_idps/scim modules by every test reaching them;
- the checks of responses and logout messages, the replay record and the crypto backend: the
  suites about signatures, encryption, messages and refusals, not the groups-and-attributes
  suite, which signs genuine responses only to see what they grant; for crypto.py not the
  identity-policy suites either.

tests/test_crypto_backends.py runs the login, attack and SP-key suites a second time, each
response also through the xmlsec1 program, requiring the same verdict (the classes prefixed
BothBackends). That copy proves the two backends agree on unmutated code; a mutant is judged by
the suites' own assertions, so the copy is left out for every mutant (it would double the cost,
mostly in xmlsec1 processes).

A mutant that only a left-out suite could kill would survive, and a survivor without a reviewed
reason fails `make mutation` (tools/mutation_survivors.py): narrowing cannot hide a gap.

Tests run the module's own suites first, then cheapest class first (by the durations mutmut
measured), so a mutant that some quick test kills is not first put through the slow ones.
Passwords are hashed with MD5 here: a few tests give an account a usable password (it must not
be linked automatically), and PBKDF2 takes most of a second per hash; no mutated module hashes
or checks a password.
"""

import json
import os
from collections import Counter
from pathlib import Path

import pytest

METADATA_TESTS = {
    "tests/test_metadata.py",
    "tests/test_metadata_refresh.py",
    "tests/test_realworld.py",
    "tests/test_existing_idp_apps.py",
}
POLICY_TESTS = {
    "tests/test_backend.py",
    "tests/test_identity_policy.py",
    "tests/test_groups_and_attributes.py",
}
# Choosing an IdP by email domain (policy), the audit record and its pruning (replay).
DISCOVERY_AND_AUDIT = "tests/test_discovery_and_audit.py"
GROUPS_AND_ATTRIBUTES = "tests/test_groups_and_attributes.py"
SIGN_IN_TESTS = {
    "tests/test_login.py",
    "tests/test_existing_idp_apps.py",
    "tests/test_realworld.py",
}
CAPTURED_RESPONSES = "CapturedResponseTests"
# Whether an IdP may be used (policy.unavailable): disabled, or its metadata expired.
EXPIRED_METADATA = "ExpiredMetadataTests"
COPY_PREFIX = "BothBackends"
MUTMUT_STATS = Path("mutmut-stats.json")  # in mutants/, where mutmut runs the tests


def metadata_suites(path, suite):
    return path in METADATA_TESTS and suite != CAPTURED_RESPONSES


# What SCIM requests do to accounts (policy.provisioned_link, may_deactivate_account, groups).
SCIM_ACCOUNT_TESTS = "tests/test_scim_accounts.py"
POLICY_JUDGES = POLICY_TESTS | SIGN_IN_TESTS | {DISCOVERY_AND_AUDIT, SCIM_ACCOUNT_TESTS}
# The session ended once its link is cut (middleware.py), and the SAML cookie it sets.
SESSION_TESTS = {SCIM_ACCOUNT_TESTS, "tests/test_login.py", "tests/test_logout.py"}
NOT_CRYPTO_JUDGES = POLICY_TESTS | {DISCOVERY_AND_AUDIT}


def policy_suites(path, suite):
    return path in POLICY_JUDGES or suite == EXPIRED_METADATA


def session_suites(path, suite):
    return path in SESSION_TESTS


def message_suites(path, suite):
    return path != GROUPS_AND_ATTRIBUTES


def crypto_suites(path, suite):
    return path not in NOT_CRYPTO_JUDGES


CHECK_TESTS = {
    "tests/test_response_checks.py",
    "tests/test_attacks.py",
    "tests/test_hostile_input.py",
}
# For each mutated module: which suites judge its mutants, and which of them run first (the
# module's own). A module not named here keeps every selected test: an error in this hook
# would count as a kill.
SUITES_BY_MODULE = {
    "saml_idps.fetching": (metadata_suites, {"tests/test_metadata.py"}),
    "saml_idps.idp_metadata": (metadata_suites, {"tests/test_metadata.py"}),
    "saml_idps.backends": (policy_suites, POLICY_TESTS),
    "saml_idps.policy": (policy_suites, POLICY_TESTS),
    "saml_idps.response_checks": (message_suites, CHECK_TESTS),
    "saml_idps.replay": (message_suites, CHECK_TESTS),
    "saml_idps.logout_checks": (message_suites, {"tests/test_logout.py"}),
    "saml_idps.crypto": (crypto_suites, {"tests/test_crypto_backends.py", "tests/test_sp_keys.py"}),
    "saml_idps.middleware": (session_suites, {SCIM_ACCOUNT_TESTS}),
}


def pytest_collection_modifyitems(config, items):
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    suites = SUITES_BY_MODULE.get(".".join(mutant.split(".")[:2]))
    # Only while a mutant is tested: mutmut's first run records which tests reach which code.
    if "__mutmut_" not in mutant or suites is None:
        return
    judges, own = suites

    def kept(item):
        suite = item.cls.__name__ if item.cls else ""
        return not suite.startswith(COPY_PREFIX) and judges(path_of(item), suite)

    verdicts = {item: kept(item) for item in items}
    left_out = [item for item in items if not verdicts[item]]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
    items[:] = own_then_cheapest_class_first([item for item in items if verdicts[item]], own)


def own_then_cheapest_class_first(items, own):
    if not MUTMUT_STATS.exists():
        return items
    duration = json.loads(MUTMUT_STATS.read_text())["duration_by_test"]
    cost = Counter()
    for item in items:
        cost[class_of(item)] += duration.get(item.nodeid, 0)

    def order(item):
        return (path_of(item) not in own, cost[class_of(item)])

    return sorted(items, key=order)  # stable: the order within a class is kept


def path_of(item):
    return item.nodeid.split("::")[0]


def class_of(item):
    return item.nodeid.rpartition("::")[0]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
