"""The path of a login through our code: which of our modules a POST to the ACS enters, and
from where. A module joining the walk, or a call back up it, fails here until it is meant."""

import sys
from collections import Counter

from .fixtures import SamlTestCase

OUR_PACKAGE = "saml_idps"


def module_of(frame):
    return frame.f_globals.get("__name__", "")


def ours(module):
    return module == OUR_PACKAGE or module.startswith(OUR_PACKAGE + ".")


class Walk:
    """Every call into one of our modules from another module (ours, or a library's called by
    ours): ``entries`` counts them per module, ``edges`` records which of our modules led there
    (None: the request came in through Django)."""

    def __init__(self):
        self.entries = Counter()
        self.edges = Counter()

    def __call__(self, frame, event, arg):
        if event != "call" or not ours(module := module_of(frame)):
            return
        caller = frame.f_back
        if caller is not None and module_of(caller) == module:
            return
        while caller is not None and not ours(module_of(caller)):
            caller = caller.f_back
        self.entries[module] += 1
        self.edges[(module_of(caller) if caller else None, module)] += 1

    def trace(self, work):
        sys.setprofile(self)
        try:
            return work()
        finally:
            sys.setprofile(None)

    def report(self):
        """Entries per module, then who called whom: what a failure of the tests below prints."""
        lines = [f"{count:3} x {module}" for module, count in self.entries.most_common()]
        lines += [f"{a} -> {b}: {count}" for (a, b), count in self.edges.items()]
        return "\n".join(lines)


# In the order a first login enters them: the steps (middleware, views, policy, config, crypto,
# response_checks, replay, backends, sessions, audit) and the helpers they share.
FIRST_LOGIN_WALK = {
    f"{OUR_PACKAGE}.{module}"
    for module in [
        "middleware",
        "views",
        "models",
        "policy",
        "conf",
        "response_checks",
        "config",
        "keys",
        "crypto",
        "schemas",
        "normalize",
        "replay",
        "backends",
        "refusals",
        "sessions",
        "audit",
    ]
}


class LoginWalkTests(SamlTestCase):
    def walk_of_a_first_login(self):
        walk = Walk()
        saml_response, relay_state = self.idp_a.answer(self.start_login("idp-a"))
        response = walk.trace(lambda: self.post_response("idp-a", saml_response, relay_state))
        self.assertSignedIn(response)
        return walk

    def test_a_first_login_passes_through_these_modules(self):
        walk = self.walk_of_a_first_login()
        self.assertEqual(set(walk.entries), FIRST_LOGIN_WALK, walk.report())

    def test_no_module_calls_back_into_one_that_called_it(self):
        walk = self.walk_of_a_first_login()
        calls = {(a, b) for a, b in walk.edges if a is not None and a != b}
        # Acyclic: peel off the modules nobody else in the walk calls, until none is left.
        modules = {module for edge in calls for module in edge}
        while modules:
            roots = {m for m in modules if not any(b == m and a in modules for a, b in calls)}
            self.assertTrue(roots, f"a cycle among {sorted(modules)}\n{walk.report()}")
            modules -= roots
