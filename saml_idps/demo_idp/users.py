"""The people of the demo IdP, with attributes as an Okta app sends them."""

DEMO_USERS = {
    "alice": {
        "FirstName": ["Alice"],
        "LastName": ["Anderson"],
        "Email": ["alice@example.com"],
        "groups": ["Everyone", "Engineering"],
    },
    "bob": {
        "FirstName": ["Bob"],
        "LastName": ["Baker"],
        "Email": ["bob@example.com"],
        "groups": ["Everyone", "Sales"],
    },
    "carol": {
        "FirstName": ["Carol"],
        "LastName": ["Chen"],
        "Email": ["carol@example.org"],
        "groups": ["Everyone", "IT Admins"],
    },
}
