"""SCIM 2.0 provisioning per IdP (RFC 7643/7644) at /scim/<slug>/v2/, served by scim2-server:

- service.py: the schemas, resource types and declared features, and the tolerance for what
  Okta and Entra ID send;
- tokens.py: the bearer tokens of each IdP;
- views.py: the endpoint: authentication, rate limit, audit log;
- storage.py, filters.py: each IdP's users and groups, kept whole, found by indexed columns.
"""
