"""A real SAML identity provider for tests: pysaml2's Server with keys of its own, signing and
encrypting in process (libxmlsec1 through the xmlsec wheel), so no xmlsec1 program is needed."""

import base64
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import xmlsec
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, SamlBase, saml, samlp
from saml2.metadata import entity_descriptor, sign_entity_descriptor
from saml2.saml import NAME_FORMAT_UNSPECIFIED, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.samlp import STATUS_AUTHN_FAILED
from saml2.server import Server
from saml2.sigver import ASSERT_XPATH, pre_encrypt_assertion, security_context
from saml2.time_util import instant
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from saml_idps.certificates import generate_self_signed
from saml_idps.crypto import XMLSEC, IdPConfig, XmlSecBindings

OKTA_STYLE_ATTRIBUTES = {
    "FirstName": ["Alice"],
    "LastName": ["Anderson"],
    "Email": ["alice@example.com"],
    "groups": ["Everyone", "Engineering"],
}
PASSWORD_AUTHN = {
    "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
}


class IdentityProviderCrypto(XmlSecBindings):
    """The in-process backend, which also encrypts assertions to an SP's certificate as an IdP
    does (what pysaml2's xmlsec1 backend does with ``xmlsec1 --encrypt``)."""

    SESSION_KEYS = {
        "des-192": (xmlsec.constants.KeyDataDes, 192),
        "aes-128": (xmlsec.constants.KeyDataAes, 128),
        "aes-192": (xmlsec.constants.KeyDataAes, 192),
        "aes-256": (xmlsec.constants.KeyDataAes, 256),
    }

    def encrypt_assertion(
        self, statement, enc_key, template, key_type="des-192", node_xpath=None, node_id=None
    ):
        if isinstance(statement, SamlBase):
            statement = pre_encrypt_assertion(statement)
        root = etree.fromstring(str(statement).encode())
        (node,) = root.xpath(node_xpath or ASSERT_XPATH)
        manager = xmlsec.KeysManager()
        manager.add_key(xmlsec.Key.from_file(enc_key, xmlsec.constants.KeyDataFormatCertPem))
        context = xmlsec.EncryptionContext(manager)
        kind, bits = self.SESSION_KEYS[key_type]
        context.key = xmlsec.Key.generate(kind, bits, xmlsec.constants.KeyDataTypeSession)
        context.encrypt_xml(etree.fromstring(str(template).encode()), node)
        return etree.tostring(root, encoding="unicode")


class TestIdentityProvider:
    """An IdP at ``base_url`` that signs responses with its own freshly generated key."""

    # pysaml2 signs with SHA-1 unless told otherwise, whatever its configuration says.
    SIGN_ALG = SIG_RSA_SHA256
    DIGEST_ALG = DIGEST_SHA256

    def __init__(self, name="idp-a", entity_id=None, single_logout=True):
        self.base_url = f"https://{name}.example.com"
        self.entity_id = entity_id or f"{self.base_url}/metadata"
        folder = Path(tempfile.mkdtemp(prefix=f"test-idp-{name}-"))
        key_pem, cert_pem = generate_self_signed(name)
        self.certificate_pem = cert_pem.decode()
        (folder / "idp.key").write_bytes(key_pem)
        (folder / "idp.crt").write_bytes(cert_pem)
        endpoints = {
            "single_sign_on_service": [
                (f"{self.base_url}/sso/redirect", BINDING_HTTP_REDIRECT),
                (f"{self.base_url}/sso/post", BINDING_HTTP_POST),
            ],
        }
        if single_logout:
            endpoints["single_logout_service"] = [
                (f"{self.base_url}/slo/redirect", BINDING_HTTP_REDIRECT)
            ]
        self.config = IdPConfig()
        self.config.load(
            {
                "entityid": self.entity_id,
                "key_file": str(folder / "idp.key"),
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
                "cert_file": str(folder / "idp.crt"),
                "crypto_backend": XMLSEC,
                # Service providers this IdP answers are added by trust().
                "metadata": {"inline": []},
                "service": {
                    "idp": {
                        "name": name,
                        "endpoints": endpoints,
                        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                        # The SP signs its AuthnRequests: check them as Okta can.
                        "want_authn_requests_signed": True,
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "name_form": NAME_FORMAT_UNSPECIFIED,
                            }
                        },
                    }
                },
            }
        )
        self.server = Server(config=self.config)
        self.server.sec.crypto = IdentityProviderCrypto()
        self.trusted = set()

    @staticmethod
    def name_id(value, name_id_format=NAMEID_FORMAT_EMAILADDRESS):
        return NameID(format=name_id_format, text=value)

    def trust(self, sp_metadata_xml):
        """Know a service provider by its metadata, as an admin does in Okta."""
        if sp_metadata_xml not in self.trusted:
            self.server.metadata.load("inline", sp_metadata_xml)
            self.trusted.add(sp_metadata_xml)

    @property
    def metadata_xml(self):
        return str(entity_descriptor(self.config))

    def signed_metadata_xml(self):
        """The metadata with an enveloped signature made with this IdP's key."""
        _, xml = sign_entity_descriptor(
            entity_descriptor(self.config), None, security_context(self.config)
        )
        return xml

    def response(
        self,
        acs_url,
        audience,
        in_response_to=None,
        name_id="alice@example.com",
        name_id_format=NAMEID_FORMAT_EMAILADDRESS,
        attributes=None,
        sign_response=True,
        sign_assertion=True,
        sign_alg=SIGN_ALG,
        digest_alg=DIGEST_ALG,
        encrypt=False,
    ):
        """A signed SAMLResponse (base64, as the HTTP-POST binding carries it)."""
        response = self.server.create_authn_response(
            identity=OKTA_STYLE_ATTRIBUTES if attributes is None else attributes,
            in_response_to=in_response_to,
            destination=acs_url,
            sp_entity_id=audience,
            name_id=self.name_id(name_id, name_id_format),
            authn=PASSWORD_AUTHN,
            sign_response=sign_response,
            sign_assertion=sign_assertion,
            sign_alg=sign_alg,
            digest_alg=digest_alg,
            # Encrypted to the certificate in the SP's metadata, as Okta or Entra ID do.
            encrypt_assertion=encrypt,
            encrypt_assertion_self_contained=True,
        )
        return encode(str(response))

    def error_response(
        self, acs_url, in_response_to, status=STATUS_AUTHN_FAILED, message="Cancelled by the user"
    ):
        """A Response with an error status (and ``message`` as its StatusMessage), signed."""
        response = self.server.create_error_response(
            in_response_to,
            acs_url,
            (status, message),
            sign=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        return encode(str(response))

    def received_request(self, redirect_url):
        """The AuthnRequest carried by an HTTP-Redirect binding URL, its signature verified
        with the certificate in the SP's metadata."""
        return self.server.parse_authn_request(*redirect_message(redirect_url)).message

    def answer(self, redirect_url, **kwargs):
        """Answer the AuthnRequest in an HTTP-Redirect binding URL: (SAMLResponse, RelayState)."""
        message = self.received_request(redirect_url)
        saml_response = self.response(
            message.assertion_consumer_service_url,
            message.issuer.text,
            in_response_to=message.id,
            **kwargs,
        )
        relay_state = parse_qs(urlsplit(redirect_url).query).get("RelayState", [""])[0]
        return saml_response, relay_state

    def answer_logout(self, redirect_url):
        """Answer the LogoutRequest in an HTTP-Redirect binding URL: the URL that carries our
        LogoutResponse back to the SP."""
        request = self.server.parse_logout_request(*redirect_message(redirect_url)).message
        response = self.server.create_logout_response(request, [BINDING_HTTP_REDIRECT])
        destination = self.server.metadata.single_logout_service(
            request.issuer.text, BINDING_HTTP_REDIRECT, "spsso"
        )[0]["location"]
        http_info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT, str(response), destination, response=True
        )
        return dict(http_info["headers"])["Location"]

    def logout_response_to(self, request_id, sls_url, sp_entity_id, sign=False):
        """A LogoutResponse with status Success answering ``request_id``, in an HTTP-Redirect
        binding URL to ``sls_url``: what anyone can make, unsigned, for a request never sent."""
        request = samlp.LogoutRequest(
            id=request_id,
            version="2.0",
            issue_instant=instant(),
            issuer=saml.Issuer(text=sp_entity_id),
            name_id=self.name_id("alice@example.com"),
        )
        response = self.server.create_logout_response(request, [BINDING_HTTP_REDIRECT], sign=sign)
        http_info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT, str(response), sls_url, response=True
        )
        return dict(http_info["headers"])["Location"]

    def logout_request(self, sls_url, sp_entity_id, name_id="alice@example.com", sign=True):
        """A LogoutRequest for the HTTP-POST binding (base64), signed unless told otherwise."""
        _, request = self.server.create_logout_request(
            sls_url,
            sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=name_id),
            sign=sign,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        return encode(str(request))

    def logout_request_url(self, sls_url, sp_entity_id, relay_state, sign=True):
        """A LogoutRequest in an HTTP-Redirect binding URL to ``sls_url``, as Okta sends one:
        the message itself unsigned, the query string (with ``relay_state``) signed."""
        _, request = self.server.create_logout_request(
            sls_url,
            sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="alice@example.com"),
            sign=False,
        )
        http_info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(request),
            sls_url,
            relay_state,
            sign=sign,
            sigalg=SIG_RSA_SHA256,
        )
        return dict(http_info["headers"])["Location"]


def redirect_message(url):
    """pysaml2's arguments for a request in an HTTP-Redirect binding URL, its query-string
    signature included: (message, binding, relay_state, sigalg, signature)."""
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    return (
        query["SAMLRequest"],
        BINDING_HTTP_REDIRECT,
        query.get("RelayState"),
        query.get("SigAlg"),
        query.get("Signature"),
    )


def encode(xml):
    return base64.b64encode(xml.encode()).decode()
