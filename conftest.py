"""pytest configuration for `make mutation` only; `manage.py test` does not read this file.

Nearly every test registers its IdPs through idp_metadata.parse(), so mutmut would run them all
for each mutant of the metadata code; the tests about metadata (fetching, checking, refreshing,
real IdPs' documents, signing in through them) are the ones that can tell such a mutant apart.

Of those, the real IdPs' captured responses (CapturedResponseTests) are left out for metadata
mutants: they register metadata written by the test from the response's certificate, and judge
responses, not documents.

tests/test_crypto_backends.py runs the login, attack and SP-key suites a second time, each
response through both crypto backends and the suite's own assertions. For a mutant in crypto.py
that copy is the stronger test, so the suites it copies are left out; for any other mutant the
copy repeats its suite at twice the cost, so the copy is left out. Either way each behaviour is
tested once per mutant. A crypto mutant is judged by the suites about signatures, encryption and
messages (login, attacks, SP keys, hostile input, logout, metadata, real IdPs, crypto); the
identity-policy suites sign genuine responses only to see whom they sign in, so they are left
out for it.
"""

import os

CRYPTO_MUTANTS = "saml_idps.crypto."
METADATA_MUTANTS = ("saml_idps.fetching.", "saml_idps.idp_metadata.")
METADATA_TESTS = {
    "tests/test_metadata.py",
    "tests/test_metadata_refresh.py",
    "tests/test_realworld.py",
    "tests/test_existing_idp_apps.py",
}
CAPTURED_RESPONSES = "CapturedResponseTests"
POLICY_TESTS = {
    "tests/test_backend.py",
    "tests/test_identity_policy.py",
    "tests/test_groups_and_attributes.py",
}
COPY_PREFIX = "BothBackends"


def pytest_collection_modifyitems(config, items):
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    # Only while a mutant is tested: mutmut's first run records which tests reach which code.
    if "__mutmut_" not in mutant:
        return
    suite = {item: item.cls.__name__ if item.cls else "" for item in items}
    copied = {
        name.removeprefix(COPY_PREFIX) for name in suite.values() if name.startswith(COPY_PREFIX)
    }
    path = {item: item.nodeid.split("::")[0] for item in items}
    if mutant.startswith(CRYPTO_MUTANTS):
        left_out = [i for i in items if suite[i] in copied or path[i] in POLICY_TESTS]
    elif mutant.startswith(METADATA_MUTANTS):
        left_out = [
            i for i in items if path[i] not in METADATA_TESTS or suite[i] == CAPTURED_RESPONSES
        ]
    else:
        left_out = [item for item in items if suite[item].startswith(COPY_PREFIX)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        left_out = set(left_out)
        items[:] = [item for item in items if item not in left_out]
