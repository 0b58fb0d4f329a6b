"""Tools to build attacks from a genuine signed response of a test IdP, with lxml."""

import base64
import copy

from lxml import etree
from saml2.sigver import pre_signature_part
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
RESPONSE_NODE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
ASSERTION_NODE = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"


def tree(saml_response):
    return etree.fromstring(base64.b64decode(saml_response))


def encode(root):
    return base64.b64encode(etree.tostring(root)).decode()


def first(root, path):
    return root.xpath(path, namespaces=NS)[0]


def all_of(root, path):
    return root.xpath(path, namespaces=NS)


def assertion_of(root):
    return first(root, "//saml:Assertion")


def signed(idp, root, response=True, assertion=True):
    """``root`` signed as the IdP would sign what it issued: its own key, SHA-256. Any earlier
    signatures are dropped first. For responses the IdP "really" sent with odd content."""
    root = copy.deepcopy(root)
    for signature in all_of(root, "//ds:Signature"):
        signature.getparent().remove(signature)
    # The assertion first: the response's signature covers it. Signature Ids must differ.
    targets = []
    if assertion:
        targets.append((assertion_of(root), ASSERTION_NODE, 2))
    if response:
        targets.append((root, RESPONSE_NODE, 1))
    xml = etree.tostring(root)
    for element, node_name, signature_number in targets:
        element_id = element.get("ID")
        template = etree.fromstring(
            str(
                pre_signature_part(
                    element_id,
                    idp.server.sec.my_cert,
                    signature_number,
                    DIGEST_SHA256,
                    SIG_RSA_SHA256,
                )
            )
        )
        document = etree.fromstring(xml)
        target = document if node_name == RESPONSE_NODE else assertion_of(document)
        issuer = first(target, "saml:Issuer")
        issuer.addnext(template)
        xml = idp.server.sec.sign_statement(
            etree.tostring(document).decode(), node_name, node_id=element_id
        ).encode()
    return base64.b64encode(xml).decode()
