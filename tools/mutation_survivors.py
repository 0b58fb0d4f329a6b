"""Lists every mutant that the last `make mutation` run left alive, with why it may live.

Reads mutmut's own files under mutants/ (the mutated copies and their .meta results) and prints
Markdown: one row per surviving mutant with the line it changes, the change, and the reason.
Two kinds are recognised from the code itself: the wording of a message (a text shown or
logged, never a reason code, a status or an algorithm) and a change inside a log call. Every
other survivor needs a reason written by a person in tools/accepted_survivors.toml, keyed by the
function and the change; a survivor without one is listed as "not reviewed" and the exit status
is 1, so that a new gap in the tests cannot pass unnoticed. With --unreviewed it prints those as
entries to complete in that file.
"""

import ast
import difflib
import json
import re
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
ACCEPTED = Path(__file__).with_name("accepted_survivors.toml")
SURVIVED, NO_TESTS = 0, {5, 33}
# Calls whose string arguments are words for people: refusals (past their reason code),
# errors for the admin, and log lines.
MESSAGE_CALLS = {
    "LoginRefused",
    "MetadataError",
    "ValidationError",
    "XmlsecError",
    "SignatureError",
    # SCIM errors (past their status and scimType, set by the class), and the notes of what a
    # request changed in accounts, which its audit record holds for people to read.
    "InvalidSyntaxException",
    "InvalidValueException",
    "NotFoundException",
    "NotImplementedException",
    "PayloadTooLargeException",
    "PreconditionFailedException",
    "UnauthorizedException",
    "UniquenessException",
    "note",
}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


def function_source(mutated_module, spans, name):
    start, end = spans[name]
    lines = mutated_module[start - 1 : end]
    return textwrap.dedent("\n".join(lines))


def named_alike(source):
    """The function's lines with its name blanked: mutmut names each copy differently."""
    return re.sub(r"def [^(]+\(", "def (", source, count=1).splitlines()


def changed_lines(original, mutant):
    matcher = difflib.SequenceMatcher(a=original, b=mutant, autojunk=False)
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag != "equal":
            return original[a1:a2], mutant[b1:b2]
    return [], []


def first_difference(a, b):
    """The innermost pair of nodes where two trees differ."""
    if type(a) is not type(b):
        return a, b
    if not isinstance(a, ast.AST):
        return (a, b) if a != b else None
    for field in a._fields:
        x, y = getattr(a, field), getattr(b, field)
        xs, ys = (x, y) if isinstance(x, list) else ([x], [y])
        if len(xs) != len(ys):
            return a, b
        for p, q in zip(xs, ys, strict=True):
            found = first_difference(p, q)
            if found:
                return found if isinstance(found[0], ast.AST) else (a, b)
    return None


def parents(tree):
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def call_name(call):
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def is_log_call(call):
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in LOG_METHODS
        and "log" in ast.unparse(func.value).lower()
    )


def kind_of(original_source, mutant_source):
    """'wording', 'log' or None, read from where the two functions differ."""
    original, mutant = ast.parse(original_source), ast.parse(mutant_source)
    # The def lines differ by name only; compare the bodies.
    found = None
    for p, q in zip(original.body[0].body, mutant.body[0].body, strict=False):
        found = first_difference(p, q)
        if found:
            break
    if not found:
        return None
    node, _ = found
    up = parents(original)
    chain = []
    while node in up:
        chain.append(node)
        node = up[node]
    calls = [n for n in chain if isinstance(n, ast.Call)]
    if any(is_log_call(call) for call in calls):
        return "log"
    changed = chain[0] if chain else None
    text = isinstance(changed, ast.Constant) and isinstance(changed.value, str)
    in_fstring = any(isinstance(n, ast.JoinedStr) for n in chain)
    if (text or in_fstring) and calls:
        call = calls[0]
        refusal_code = call_name(call) == "LoginRefused" and call.args and changed is call.args[0]
        if call_name(call) in MESSAGE_CALLS and not refusal_code:
            return "wording"
    if text and " " in changed.value.strip() and changed.value[:1].isupper():
        return "wording"  # a sentence for people, e.g. a hint joined into a message
    return None


REASONS = {
    "wording": "wording of a message for people; tests check reason codes and key phrases",
    "log": "a log line; what is logged is not a security decision",
}


def function_name(key):
    """``check_timing`` of ``saml_idps.response_checks.x_check_timing__mutmut_3``, and
    ``IdentityPolicy.user_for`` of a method's ``xǁIdentityPolicyǁuser_for__mutmut_7``."""
    mangled = key.rpartition(".")[2].rpartition("__mutmut_")[0]
    return mangled.removeprefix("xǁ").replace("ǁ", ".") if "ǁ" in mangled else mangled[2:]


def survivors():
    for meta in sorted(MUTANTS.glob("saml_idps/**/*.py.meta")):
        module_path = meta.with_suffix("")
        results = json.loads(meta.read_text())["exit_code_by_key"]
        spans = json.loads(module_path.with_suffix(".py.spans").read_text())["spans"]
        mutated_module = module_path.read_text().splitlines()
        for key, exit_code in results.items():
            if exit_code != SURVIVED and exit_code not in NO_TESTS:
                continue
            name = key.rpartition(".")[2]
            original = function_source(
                mutated_module, spans, name.rpartition("__mutmut_")[0] + "__mutmut_orig"
            )
            mutant = function_source(mutated_module, spans, name)
            yield key, exit_code, module_path.relative_to(MUTANTS), original, mutant


def accepted_reasons():
    """{(function, change): reason} from tools/accepted_survivors.toml; change "*" stands for
    every mutant of the function."""
    if not ACCEPTED.exists():
        return {}
    entries = tomllib.loads(ACCEPTED.read_text()).get("accepted", [])
    return {
        (entry["function"], change): entry["reason"]
        for entry in entries
        if entry.get("reason")
        for change in entry["changes"]
    }


def main():
    accepted = accepted_reasons()
    rows, unreviewed, kinds, used = [], {}, {}, set()
    for key, exit_code, path, original, mutant in survivors():
        function = f"{path}:{function_name(key)}"
        before, after = changed_lines(named_alike(original), named_alike(mutant))
        change = " → ".join(" / ".join(line.strip() for line in lines) for lines in (before, after))
        kind = kind_of(original, mutant)
        used.update({(function, change), (function, "*")})
        reason = (
            REASONS.get(kind) or accepted.get((function, change)) or accepted.get((function, "*"))
        )
        status = "no tests" if exit_code in NO_TESTS else "survived"
        if not reason:
            unreviewed.setdefault(function, []).append(change)
            kind, reason = "not reviewed", "**not reviewed**"
        kinds[kind or "reviewed"] = kinds.get(kind or "reviewed", 0) + 1
        cell = change.replace("|", "\\|").replace("`", "'")
        rows.append(f"| `{function}` | {status} | `{cell}` | {reason} |")
    if "--unreviewed" in sys.argv:
        # Entries to complete in tools/accepted_survivors.toml (a reason each, or a test).
        for function, changes in unreviewed.items():
            print(f'[[accepted]]\nfunction = "{function}"\nreason = ""\nchanges = [')
            print(
                "".join(f"    {json.dumps(change, ensure_ascii=False)},\n" for change in changes)
                + "]\n"
            )
        return 0
    print("| function | mutant | change (original → mutant) | why it may live |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())))
    for function, change in sorted(accepted.keys() - used):
        # The code changed or a test now kills it: the reason can go.
        print(f"stale reason in {ACCEPTED.name}: {function}: {change}", file=sys.stderr)
    return 1 if unreviewed else 0


if __name__ == "__main__":
    sys.exit(main())
