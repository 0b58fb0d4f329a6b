"""pytest configuration for `make mutation` only; `manage.py test` does not read this file.

mutmut runs, for each mutant, every selected test that reaches the mutated function. Most tests
sign someone in, so nearly all of them reach every module; this file narrows each mutant's tests
to the suites that can tell a mutant of its module apart (`SUITES_BY_MODULE`):

- metadata code (fetching, checking a document): the tests about metadata (fetching, checking,
  refreshing, real IdPs' documents, signing in through them), without the real IdPs' captured
  responses (CapturedResponseTests), which register metadata written from the response's
  certificate and judge responses, not documents;
- who signs in and what they become (backends, policy): the identity-policy suites and the
  suites that sign in (login, per-IdP URLs, real IdPs' responses), not the refusals that are
  decided before anyone is looked up (attacks, hostile input, logout, SP keys, metadata);
- the checks of responses and logout messages, the replay record and the crypto backend: the
  suites about signatures, encryption and messages, not the identity-policy suites, which sign
  genuine responses only to see whom they sign in (the replay record also by the audit suite,
  whose prune command deletes expired records).

tests/test_crypto_backends.py runs the login, attack and SP-key suites a second time, each
response through both crypto backends and the suite's own assertions (the classes prefixed
BothBackends). For a mutant in crypto.py that copy is the stronger test, so the suites it copies
are left out; for any other mutant the copy repeats its suite at twice the cost, so the copy is
left out. Either way each behaviour is tested once per mutant.

A mutant that only a left-out suite could kill would survive, and a survivor without a reviewed
reason fails `make mutation` (tools/mutation_survivors.py): narrowing cannot hide a gap.

Passwords are hashed with MD5 here: a few tests give an account a usable password (it must not
be linked automatically), and PBKDF2 takes most of a second per hash. No mutated module hashes
or checks a password.
"""

import os

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
SIGN_IN_TESTS = {
    "tests/test_login.py",
    "tests/test_existing_idp_apps.py",
    "tests/test_realworld.py",
}
CAPTURED_RESPONSES = "CapturedResponseTests"
COPY_PREFIX = "BothBackends"


def metadata_suites(path, suite, copied):
    return path in METADATA_TESTS and suite != CAPTURED_RESPONSES


def policy_suites(path, suite, copied):
    signs_in = path in POLICY_TESTS | SIGN_IN_TESTS | {DISCOVERY_AND_AUDIT}
    return signs_in and not suite.startswith(COPY_PREFIX)


def message_suites(path, suite, copied):
    return path not in POLICY_TESTS and not suite.startswith(COPY_PREFIX)


def crypto_suites(path, suite, copied):
    return path not in POLICY_TESTS | {DISCOVERY_AND_AUDIT} and suite not in copied


# A module not named here keeps every selected test: an error in this hook would count as a kill.
SUITES_BY_MODULE = {
    "saml_idps.fetching": metadata_suites,
    "saml_idps.idp_metadata": metadata_suites,
    "saml_idps.backends": policy_suites,
    "saml_idps.policy": policy_suites,
    "saml_idps.response_checks": message_suites,
    "saml_idps.replay": message_suites,
    "saml_idps.logout_checks": message_suites,
    "saml_idps.crypto": crypto_suites,
}


def pytest_collection_modifyitems(config, items):
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    # Only while a mutant is tested: mutmut's first run records which tests reach which code.
    judges = SUITES_BY_MODULE.get(".".join(mutant.split(".")[:2]))
    if "__mutmut_" not in mutant or judges is None:
        return
    suite = {item: item.cls.__name__ if item.cls else "" for item in items}
    path = {item: item.nodeid.split("::")[0] for item in items}
    copied = {name.removeprefix(COPY_PREFIX) for name in suite.values() if COPY_PREFIX in name}
    kept = [item for item in items if judges(path[item], suite[item], copied)]
    left_out = [item for item in items if not judges(path[item], suite[item], copied)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
