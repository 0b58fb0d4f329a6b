#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# The test suite runs the demo IdP and needs no secret: `manage.py test` sets what the site
# otherwise leaves off, unless the environment says otherwise. Nothing else is defaulted.
TEST_ENVIRONMENT = {"DEBUG": "1", "DEMO_IDP": "1"}


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samlsite.settings")
    if sys.argv[1:2] == ["test"]:
        for name, value in TEST_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
