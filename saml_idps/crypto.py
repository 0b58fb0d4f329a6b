"""pysaml2's cryptography for the clients this app builds: the SP key loaded once per process, and
XML signatures checked in process by the ``xmlsec`` bindings (libxmlsec1) instead of the xmlsec1
program, the schema check before them by libxml2 (schemas.py) instead of pure Python.

pysaml2 builds a SecurityContext in ``saml2.sigver.security_context`` for every metadata store and
every client. Each time it reloads the SP's RSA private key, which ``cryptography`` validates
(~35 ms), and it knows two backends: the xmlsec1 program (three processes per signature check)
and the unmaintained pyXMLSecurity. It offers no way to add one (pysaml2 issue #886; its
maintainers asked PR #961 for a backend class of its own, which this is), and djangosaml2 1.12
builds its clients inside its views, with no hook to choose their class or security context.
So ``install()`` puts our ``security_context`` where pysaml2's modules look it up, and it serves
only the configurations this app builds (``SPConfig`` for its SP clients, ``IdPConfig`` for the
demo IdP): ``crypto_backend = XMLSEC`` gets ``XmlSecBindings``, ``XMLSEC1`` pysaml2's own context,
either built once per configuration. Any other configuration in the process (a host project's)
is handed to pysaml2's own function, unchanged; so is pysaml2's schema check outside our
in-process contexts.
"""

import contextvars
import functools
import os
import threading
import weakref

import saml2.config
import saml2.entity
import saml2.mdstore
import saml2.metadata
import saml2.response
import saml2.sigver
import xmlsec
from lxml import etree
from saml2 import SamlBase, samlp
from saml2.sigver import (
    CryptoBackend,
    RSACrypto,
    SecurityContext,
    SignatureError,
    XmlsecError,
    class_name,
)
from saml2.xmldsig import NAMESPACE as DSIG_NS
from saml2.xmlenc import NAMESPACE as XENC_NS

from . import schemas

# The pysaml2 this module's adaptations of it were checked against (checks.py holds it to it).
PYSAML2_VERSION = "7.5."

# SAML_IDPS_CRYPTO_BACKEND values, passed to pysaml2 as the configuration's crypto_backend.
XMLSEC = "xmlsec"
XMLSEC1 = "xmlsec1"
CHOICES = (XMLSEC, XMLSEC1)

_pysaml2_security_context = saml2.sigver.security_context
_pysaml2_validate_doc_with_schema = saml2.sigver.validate_doc_with_schema

# The modules that bound pysaml2's security_context by name when they imported it.
_CALLERS = (saml2.sigver, saml2.entity, saml2.mdstore, saml2.metadata, saml2.response)

_install_lock = threading.Lock()


def install():
    """Make pysaml2 look up ``security_context`` and ``validate_doc_with_schema`` here; both
    hand whatever is not this app's to pysaml2's own. Idempotent."""
    # AppConfig.ready() runs it before mutmut switches a mutant on: no test could see one.
    # pragma: no mutate block
    with _install_lock:
        for module in _CALLERS:
            module.security_context = security_context
        saml2.sigver.validate_doc_with_schema = validate_doc_with_schema


class OwnConfig:
    """A configuration this app builds: the only kind ``security_context`` gives a context of
    its own."""


class SPConfig(OwnConfig, saml2.config.SPConfig):
    """The configuration of this app's SP clients (config.py)."""


class IdPConfig(OwnConfig, saml2.config.IdPConfig):
    """The configuration of this app's demo IdP (and the test IdPs)."""


# True while one of our in-process contexts checks a signature (and, first, the schema).
_checking_in_process = contextvars.ContextVar("checking_in_process", default=False)


def validate_doc_with_schema(doc, validator=None):
    """pysaml2's schema check of each signed element: by libxml2 (schemas.py) within our
    in-process backend's signature check, by pysaml2's xmlschema validator anywhere else."""
    if validator is None and _checking_in_process.get():
        return schemas.validate(doc)
    return _pysaml2_validate_doc_with_schema(doc, validator)


def _file_version(path):
    """What identifies the contents of ``path`` without reading it: a rewritten key is reloaded."""
    stat = os.stat(path)
    return (os.path.abspath(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)


@functools.lru_cache(maxsize=16)
def _rsa_key(file_version):
    return saml2.sigver.import_rsa_key_from_file(file_version[0])


def import_rsa_key_from_file(filename):
    """pysaml2's key loader, remembered per file for the life of the process."""
    return _rsa_key(_file_version(filename))


@functools.lru_cache(maxsize=64)
def _xmlsec_key(content, key_format):
    return xmlsec.Key.from_memory(content, key_format)


def xmlsec_key(filename, key_format):
    """The key in ``filename``, by its contents: pysaml2 writes the IdP's certificate to a new
    temporary file for every signature check."""
    with open(filename, "rb") as file:
        return _xmlsec_key(file.read(), key_format)


# One SecurityContext per configuration and metadata store. pysaml2 builds one for every client,
# reading certificate files each time; it holds nothing per message, so clients built from a
# cached configuration (config.py) share it. A configuration that is gone drops its entry.
_contexts = weakref.WeakKeyDictionary()
_contexts_lock = threading.Lock()


def security_context(conf):
    """pysaml2's ``security_context``, with ``XmlSecBindings`` for ``crypto_backend = XMLSEC``,
    built once per configuration (and metadata store), for our own configurations only."""
    if not isinstance(conf, OwnConfig):
        return _pysaml2_security_context(conf)
    metadata = getattr(conf, "metadata", None)
    with _contexts_lock:
        remembered = _contexts.get(conf)
    if remembered is not None and remembered[0] is metadata:
        return remembered[1]
    if conf.crypto_backend == XMLSEC:
        context = _in_process_security_context(conf, metadata)
    else:
        context = _pysaml2_security_context(conf)
    # While pysaml2 loads a configuration its metadata store asks for a context before the
    # configuration has its metadata: that one is not worth keeping.
    if metadata is not None:
        with _contexts_lock:
            _contexts[conf] = (metadata, context)
    return context


class SecurityContextParsingOnce(SecurityContext):
    """pysaml2's SecurityContext for the in-process backend: the schema check of a signed
    element on libxml2, and a Response that is not signed as a whole parsed once.

    To learn whether a Response is signed, pysaml2 (``Entity._parse_response``) loads it first
    requiring a Response signature and, when that fails for want of one, loads the same text
    again: two parses of the whole message into its object model. Here the first parse is kept,
    per thread, for the second call with that very text; any other call drops it.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._unsigned = threading.local()

    def _check_signature(self, *args, **kwargs):
        # pysaml2 7.5's check of one signed element, its schema check on libxml2.
        token = _checking_in_process.set(True)
        try:
            return super()._check_signature(*args, **kwargs)
        finally:
            _checking_in_process.reset(token)

    def correctly_signed_response(
        self,
        decoded_xml,
        must=False,
        origdoc=None,
        only_valid_cert=False,
        require_response_signature=False,
        **kwargs,
    ):
        """As pysaml2's: the Response as pysaml2's object, its signature checked if it has
        one; SignatureError if it has none and one is required."""
        kept_text, kept_response = getattr(self._unsigned, "kept", (None, None))
        self._unsigned.kept = (None, None)
        if kept_text is decoded_xml and not require_response_signature:
            return kept_response
        response = samlp.any_response_from_string(decoded_xml)
        if not response:
            raise TypeError("Not a Response")
        if response.signature:
            if "do_not_verify" not in kwargs:
                self._check_signature(decoded_xml, response, class_name(response), origdoc)
        elif require_response_signature:
            self._unsigned.kept = (decoded_xml, response)
            raise SignatureError("Signature missing for response")
        return response


# The configuration's options pysaml2's security_context hands its SecurityContext as they are;
# the in-process backend's checks read none of them.
PASSED_ON = (
    "cert_handler_extra_class",
    "generate_cert_info",
    "tmp_cert_file",
    "tmp_key_file",
    "validate_certificate",
    "encryption_keypairs",
    "delete_tmpfiles",
)


def _in_process_security_context(conf, metadata):
    key_file = conf.getattr("key_file", "")
    keypairs = conf.encryption_keypairs or ()
    return SecurityContextParsingOnce(
        XmlSecBindings(),
        conf.key_file,
        cert_file=conf.cert_file,
        metadata=metadata,
        only_use_keys_in_metadata=conf.only_use_keys_in_metadata,
        enc_key_files=[pair["key_file"] for pair in keypairs if "key_file" in pair],
        sec_backend=RSACrypto(import_rsa_key_from_file(key_file)) if key_file else None,
        **{option: getattr(conf, option) for option in PASSED_ON},
    )


def _parse(text):
    """The document as libxmlsec1 will see it: no DTD, no entities, nothing fetched."""
    if isinstance(text, str):
        text = text.encode()
    # lxml's own defaults already load no DTD, fetch nothing and cap the depth; tests pin each
    # (tests/test_crypto_backends.py), so only the one default that is unsafe is overridden.
    parser = etree.XMLParser(resolve_entities=False)
    try:
        root = etree.fromstring(text, parser)
    except etree.XMLSyntaxError as error:
        raise XmlsecError(f"unreadable XML: {error}") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise XmlsecError("a document type declaration is not accepted")
    return root


def _register_ids(context, root, attribute, node_name):
    """Declare ``attribute`` the ID of every ``node_name`` element (``namespace:LocalName``),
    as xmlsec1's ``--id-attr:<attribute> <node_name>`` does, refusing a repeated ID value.
    Returns the elements by ID."""
    namespace, _, local_name = node_name.rpartition(":")
    by_id = {}
    for element in root.iter(f"{{{namespace}}}{local_name}"):
        value = element.get(attribute)
        if value is None:
            continue
        if value in by_id:
            raise XmlsecError(f"the ID {value!r} is used twice")
        by_id[value] = element
        try:
            context.register_id(element, attribute)
        except xmlsec.Error as error:  # e.g. an xml:id repeating this ID
            raise XmlsecError(f"the ID {value!r} cannot be registered: {error}") from None
    return by_id


def _enveloped_signature(root, context, node_name, node_id):
    """The ds:Signature that is a child of the ``node_name`` element whose ID is ``node_id``
    (the root when no ID is given), after checking it signs that element and nothing else."""
    by_id = _register_ids(context, root, "ID", node_name)
    node = root if node_id is None else by_id.get(node_id)
    if node is None:
        raise XmlsecError(f"no {node_name} with ID {node_id!r}")
    signature = node.find(f"{{{DSIG_NS}}}Signature")
    if signature is None:
        raise XmlsecError(f"the {node_name} with ID {node_id!r} carries no signature")
    references = signature.findall(f"{{{DSIG_NS}}}SignedInfo/{{{DSIG_NS}}}Reference")
    expected = "" if node_id is None else f"#{node_id}"
    if [reference.get("URI") for reference in references] != [expected]:
        raise XmlsecError(f"the signature must have one reference, to {expected!r}")
    return signature


# The transforms a SAML signature may use (SAML core 5.4); libxmlsec1 refuses any other.
_REFERENCE_TRANSFORMS = (
    xmlsec.constants.TransformEnveloped,
    xmlsec.constants.TransformExclC14N,
    xmlsec.constants.TransformExclC14NWithComments,
    xmlsec.constants.TransformInclC14N,
    xmlsec.constants.TransformInclC14NWithComments,
    xmlsec.constants.TransformSha1,
    xmlsec.constants.TransformSha224,
    xmlsec.constants.TransformSha256,
    xmlsec.constants.TransformSha384,
    xmlsec.constants.TransformSha512,
)
_SIGNATURE_TRANSFORMS = (
    xmlsec.constants.TransformExclC14N,
    xmlsec.constants.TransformExclC14NWithComments,
    xmlsec.constants.TransformInclC14N,
    xmlsec.constants.TransformInclC14NWithComments,
    xmlsec.constants.TransformRsaSha1,
    xmlsec.constants.TransformRsaSha224,
    xmlsec.constants.TransformRsaSha256,
    xmlsec.constants.TransformRsaSha384,
    xmlsec.constants.TransformRsaSha512,
    xmlsec.constants.TransformEcdsaSha1,
    xmlsec.constants.TransformEcdsaSha224,
    xmlsec.constants.TransformEcdsaSha256,
    xmlsec.constants.TransformEcdsaSha384,
    xmlsec.constants.TransformEcdsaSha512,
)

_CERTIFICATE_FORMATS = {
    "pem": xmlsec.constants.KeyDataFormatCertPem,
    "der": xmlsec.constants.KeyDataFormatCertDer,
}


class XmlSecBindings(CryptoBackend):
    """pysaml2 crypto backend running libxmlsec1 in process through the ``xmlsec`` bindings.

    It keeps every constraint of pysaml2's xmlsec1 command: the key comes only from the
    certificate pysaml2 passes (the IdP's metadata), never from the message's KeyInfo; references
    are same-document only; the ID attribute and the signed node are pinned. It is stricter in
    three ways: a DOCTYPE is refused, the signature must be a child of the signed element with
    one reference to it, and only SAML's transforms are allowed. A failed check raises
    XmlsecError, so pysaml2 goes on to the IdP's next certificate, as it should in a rollover.

    Signing serves the demo IdP and POST-bound requests; encryption is an IdP's job and stays
    with pysaml2's xmlsec1 backend.
    """

    @property
    def version(self):
        return ".".join(str(part) for part in xmlsec.get_libxmlsec_version())

    def validate_signature(self, signedtext, cert_file, cert_type, node_name, node_id):
        root = _parse(signedtext)
        context = xmlsec.SignatureContext()
        signature = _enveloped_signature(root, context, node_name, node_id)
        for transform in _REFERENCE_TRANSFORMS:
            context.enable_reference_transform(transform)
        for transform in _SIGNATURE_TRANSFORMS:
            context.enable_signature_transform(transform)
        try:
            context.key = xmlsec_key(cert_file, _CERTIFICATE_FORMATS[cert_type])
            context.verify(signature)
        except xmlsec.Error as error:
            raise XmlsecError(f"signature check failed: {error}") from None
        return True

    def sign_statement(self, statement, node_name, key_file, node_id):
        root = _parse(str(statement) if isinstance(statement, SamlBase) else statement)
        context = xmlsec.SignatureContext()
        # pysaml2 signs metadata naming no node: xmlsec1 then signs the root's signature.
        signature = _enveloped_signature(root, context, node_name, node_id or root.get("ID"))
        try:
            context.key = xmlsec_key(key_file, xmlsec.constants.KeyDataFormatPem)
            context.sign(signature)
        except xmlsec.Error as error:
            raise XmlsecError(f"signing failed: {error}") from None
        return etree.tostring(root, encoding="unicode")

    def decrypt(self, enctext, key_file):
        root = _parse(enctext)
        encrypted_data = next(root.iter(f"{{{XENC_NS}}}EncryptedData"), None)
        if encrypted_data is None:
            raise XmlsecError("nothing is encrypted")
        for retrieval in root.iter(f"{{{DSIG_NS}}}RetrievalMethod"):
            if not retrieval.get("URI", "").startswith("#"):
                raise XmlsecError("a key may only be retrieved from the same document")
        manager = xmlsec.KeysManager()
        try:
            manager.add_key(xmlsec_key(key_file, xmlsec.constants.KeyDataFormatPem))
            # As xmlsec1's --id-attr:Id EncryptedKey: a RetrievalMethod may point to one by Id.
            for encrypted_key in root.iter(f"{{{XENC_NS}}}EncryptedKey"):
                xmlsec.tree.add_ids(encrypted_key, ["Id"])
            xmlsec.EncryptionContext(manager).decrypt(encrypted_data)
        except xmlsec.Error as error:
            raise XmlsecError(f"decryption failed: {error}") from None
        return etree.tostring(root, encoding="unicode")
