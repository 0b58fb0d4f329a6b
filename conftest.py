"""pytest configuration for `make mutation` only; `manage.py test` does not read this file.

tests/test_crypto_backends.py runs the login, attack and SP-key suites a second time, each
response through both crypto backends and the suite's own assertions. For a mutant in crypto.py
that copy is the stronger test, so the suites it copies are left out; for any other mutant the
copy repeats its suite at twice the cost, so the copy is left out. Either way each behaviour is
tested once per mutant.
"""

import os

CRYPTO_MUTANTS = "saml_idps.crypto."
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
    if mutant.startswith(CRYPTO_MUTANTS):
        left_out = [item for item in items if suite[item] in copied]
    else:
        left_out = [item for item in items if suite[item].startswith(COPY_PREFIX)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in set(left_out)]
