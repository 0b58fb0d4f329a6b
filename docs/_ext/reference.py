"""The parts of the documentation made from the code, so that they cannot drift from it.

Directives (in a page: a ```` ```{app-settings} ```` fence):

- ``app-settings``: every ``SAML_IDPS_*`` setting, from ``saml_idps/conf.py`` (its docstring
  and ``DEFAULTS``);
- ``environment-variables``: every variable ``samlsite/settings.py`` reads, with its type and
  default read from the code and its meaning from the module's docstring;
- ``command-help``: the ``--help`` of the management commands and of each ``saml_idps``
  subcommand, as ``manage.py`` prints it;
- ``url-table``: the app's URLs, from ``saml_idps/urls.py`` and the views' docstrings;
- ``idp-console``: what to enter in one product's console (``saml_idps/consoles.py``, the list
  the admin's change page shows), for an example site and slug.

A setting or variable without its documentation, or documented but not read, stops the build.
"""

import argparse
import ast
import inspect
import os
import re
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULE = ROOT / "samlsite" / "settings.py"
# The site and slug the IdP pages' tables are made for.
EXAMPLE_SITE = "https://sso.example.com"
NAME_LINE = re.compile(r"^[A-Z][A-Z0-9_]*(, [A-Z][A-Z0-9_]*)*$")


def setup_django():
    # DEBUG only spares the build a SECRET_KEY; the references read the code, not this process.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samlsite.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ["DEMO_IDP"] = "0"
    import django

    django.setup()


def documented_names(docstring):
    """``{(NAME, ...): meaning}`` of a docstring laid out as ``NAME[, NAME2]`` lines, each
    followed by its indented meaning (the layout of conf.py's and settings.py's docstrings)."""
    entries, names = {}, None
    for line in docstring.splitlines():
        if NAME_LINE.match(line):
            names = tuple(line.split(", "))
            entries[names] = []
        elif names and line.startswith("    "):
            entries[names].append(line.strip())
        elif line.strip():
            names = None
    return {names: " ".join(lines) for names, lines in entries.items()}


def mismatch(what, read, documented):
    """Stop the build when ``read`` (names the code reads) and ``documented`` (name groups of
    a docstring) differ."""
    named = {name for names in documented for name in names}
    missing, stale = sorted(set(read) - named), sorted(named - set(read))
    if missing or stale:
        raise ExtensionError(
            f"{what}: read but not documented {missing}, documented but not read {stale}"
        )


def names_cell(names):
    return ", ".join(f"`{name}`" for name in names)


def app_settings():
    """``[(settings, default, meaning)]`` of every SAML_IDPS_* setting, grouped as conf.py's
    docstring groups them."""
    from saml_idps import conf

    documented = documented_names(conf.__doc__)
    read = {f"SAML_IDPS_{name}": default for name, default in conf.DEFAULTS.items()}
    mismatch("saml_idps/conf.py", read, documented)
    return [
        (names, " / ".join(sorted({repr(read[name]) for name in names})), meaning)
        for names, meaning in documented.items()
    ]


def environment_reads(source):
    """``{variable: (read as, default)}`` of every environment variable ``source`` (a settings
    module) reads: through environs (``env.bool("DEBUG", False)``, ``setting(env.int, ...)``),
    ``env_list`` or dj-database-url (``env="DATABASE_URL"``)."""
    reads = {}
    for call in (node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)):
        function, args = call.func, list(call.args)
        if isinstance(function, ast.Name) and function.id == "setting":
            function, args = args[0], args[1:]
        if isinstance(function, ast.Attribute) and getattr(function.value, "id", "") == "env":
            kind = function.attr
        elif isinstance(function, ast.Name) and function.id == "env_list":
            kind = "list"
        else:
            for keyword in call.keywords:
                if keyword.arg == "env" and isinstance(keyword.value, ast.Constant):
                    reads[keyword.value.value] = ("url", "")
            continue
        if args and isinstance(args[0], ast.Constant):
            default = ast.unparse(args[1]) if len(args) > 1 else ""
            reads[args[0].value] = (kind, default)
    return reads


def environment_variables():
    """``[(variables, read as, default, meaning)]`` of every variable samlsite reads."""
    source = SETTINGS_MODULE.read_text()
    reads = environment_reads(source)
    documented = documented_names(ast.get_docstring(ast.parse(source)))
    mismatch("samlsite/settings.py", reads, documented)
    return [
        (
            names,
            " / ".join(sorted({reads[name][0] for name in names})),
            " / ".join(sorted({reads[name][1] for name in names})),
            meaning,
        )
        for names, meaning in documented.items()
    ]


def subcommand_parsers(parser):
    for action in parser._actions:  # argparse keeps its subparsers here only
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def command_help(commands):
    """``[(title, help text)]`` of ``commands`` and of each of their subcommands, at 88 columns."""
    from django.core.management import get_commands, load_command_class

    os.environ["COLUMNS"] = "88"
    available = get_commands()
    helps = []
    for name in commands:
        parser = load_command_class(available[name], name).create_parser("manage.py", name)
        helps.append((f"manage.py {name}", parser.format_help()))
        for subcommand, subparser in subcommand_parsers(parser):
            helps.append((f"manage.py {name} {subcommand}", subparser.format_help()))
    return helps


def url_rows():
    """``[(path, name, what)]`` of the app's URLs."""
    from django.urls import URLPattern

    from saml_idps import urls

    rows, names = [], {}
    for pattern in urls.urlpatterns:
        if isinstance(pattern, URLPattern) and pattern.name:
            view = getattr(pattern.callback, "view_class", pattern.callback)
            name = f"saml_idps:{pattern.name}"
            if view in names:
                what = f"the same as {names[view]}"
            else:
                what = inspect.getdoc(view).split("\n\n")[0].replace("\n", " ")
            names.setdefault(view, name)
            rows.append((f"/{pattern.pattern}", name, what))
    return rows


def console(product, slug):
    """``(product, where, [(field, value)])`` of ``product`` for an IdP ``slug`` at the example
    site: what the admin's change page shows for such an IdP."""
    from saml_idps import consoles
    from saml_idps.config import urls_for
    from saml_idps.models import IdentityProvider

    urls = urls_for(IdentityProvider(slug=slug), EXAMPLE_SITE)
    return consoles.for_product(product, urls)


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines


def prose(text):
    """Text from the code as Markdown shows it: ``<tenant>`` is not an HTML tag."""
    return text.replace("<", "\\<")


def code(text):
    return f"`{text}`" if text else ""


class MarkdownDirective(SphinxDirective):
    """A directive whose output is Markdown made by ``markdown()``, parsed as the page is."""

    def markdown(self):
        raise NotImplementedError

    def run(self):
        container = nodes.container()
        self.state.nested_parse(self.markdown(), self.content_offset, container)
        return container.children


class AppSettings(MarkdownDirective):
    def markdown(self):
        rows = [
            (names_cell(names), code(default), prose(text))
            for names, default, text in app_settings()
        ]
        return table(["setting", "default", "meaning"], rows)


class EnvironmentVariables(MarkdownDirective):
    def markdown(self):
        rows = [
            (names_cell(names), kind, code(default), prose(meaning))
            for names, kind, default, meaning in environment_variables()
        ]
        return table(["variable", "read as", "default", "meaning"], rows)


class CommandHelp(MarkdownDirective):
    required_arguments = 1
    final_argument_whitespace = True

    def markdown(self):
        lines = []
        for title, text in command_help(self.arguments[0].split()):
            lines += [f"### {title}", "", "```text", *text.rstrip().splitlines(), "```", ""]
        return lines


class UrlTable(MarkdownDirective):
    def markdown(self):
        rows = [(code(path), code(name), prose(what)) for path, name, what in url_rows()]
        return table(["path", "name", "what"], rows)


class IdpConsole(MarkdownDirective):
    """``{idp-console} PRODUCT SLUG``."""

    required_arguments = 2

    def markdown(self):
        product, where, fields = console(*self.arguments)
        intro = (
            f"In {product}: {where}. For an IdP with slug `{self.arguments[1]}` at {EXAMPLE_SITE}:"
        )
        rows = [(field, code(value) if "://" in value else value) for field, value in fields]
        return [intro, "", *table([f"{product} field", "value"], rows)]


def setup(app):
    setup_django()
    for name, directive in [
        ("app-settings", AppSettings),
        ("environment-variables", EnvironmentVariables),
        ("command-help", CommandHelp),
        ("url-table", UrlTable),
        ("idp-console", IdpConsole),
    ]:
        app.add_directive(name, directive)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
