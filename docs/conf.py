"""Sphinx configuration of the documentation site (make docs).

Pages are Markdown (MyST). The settings, environment, CLI and URL references and each IdP page's
"values to paste" table are made at build time from the code (_ext/reference.py), so they cannot
drift from it. Warnings are errors (make docs runs sphinx-build -W), broken internal links
included."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]

project = "saml_idps"
author = "the samlsite developers"
copyright = "2026, the samlsite developers"  # noqa: A001 - Sphinx's name for it

extensions = ["myst_parser", "reference"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# Anchors as GitHub makes them, so that a link works on the site and in the repository alike.
myst_heading_slug_func = "github"
source_suffix = {".md": "markdown"}
root_doc = "index"

# Notes for the team, not pages of the site.
exclude_patterns = [
    "_build",
    "status.md",
    "scim-research.md",
    "mutation-survivors.md",
]

html_theme = "furo"
html_title = "saml_idps"
html_show_sourcelink = False

# A reference to a page or heading that does not exist is a warning, hence an error.
nitpicky = True
