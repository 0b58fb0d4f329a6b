"""SCIM 2.0 provisioning per IdP (RFC 7643/7644): each IdP creates, updates and deactivates its
users over /scim/<slug>/v2/ with a bearer token of its own. So far: the tokens (tokens.py)."""
