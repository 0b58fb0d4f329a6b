"""The SAML XML Schemas, checked by libxml2.

pysaml2 checks every signed element against the SAML schemas before its signature
(CVE-2021-21239 class), with the pure-Python xmlschema package: ~3.5 ms per element, the
largest single cost of a login. ``validate`` checks the same schema files (pysaml2's own copies,
for the same namespaces) with libxml2, the library libxmlsec1 checks the signature with, in
~0.05 ms. crypto.py hands it to pysaml2 when the in-process backend is chosen.
"""

import threading
from importlib.resources import files

import saml2.data.schemas
from lxml import etree
from saml2.xml.schema import XMLSchemaError

SCHEMA_FOLDER = files(saml2.data.schemas)

# The namespaces pysaml2's validator knows (saml2/xml/schema/__init__.py), with their files.
SCHEMA_FILES = {
    "http://www.w3.org/XML/1998/namespace": "xml.xsd",
    "http://schemas.xmlsoap.org/soap/envelope/": "envelope.xsd",
    "http://www.w3.org/2001/04/xmlenc#": "xenc-schema.xsd",
    "http://www.w3.org/2009/xmlenc11#": "xenc-schema-11.xsd",
    "http://www.w3.org/2000/09/xmldsig#": "xmldsig-core-schema.xsd",
    "urn:oasis:names:tc:SAML:2.0:assertion": "saml-schema-assertion-2.0.xsd",
    "urn:oasis:names:tc:SAML:2.0:metadata": "saml-schema-metadata-2.0.xsd",
    "urn:oasis:names:tc:SAML:2.0:protocol": "saml-schema-protocol-2.0.xsd",
    "http://eidas.europa.eu/metadata/servicelist": "eidas-schema-metadata-servicelist.xsd",
    "http://eidas.europa.eu/saml-extensions": "eidas-schema-saml-extensions.xsd",
    "http://eidas.europa.eu/attributes/naturalperson": "eidas-schema-attribute-naturalperson.xsd",
    "http://eidas.europa.eu/attributes/legalperson": "eidas-schema-attribute-legalperson.xsd",
}


class PackagedSchemas(etree.Resolver):
    """Schema imports name W3C and OASIS URLs: each is read from pysaml2's copy of that file,
    never fetched. An import of anything else fails the schema's loading."""

    def resolve(self, url, public_id, context):
        path = SCHEMA_FOLDER.joinpath(url.rpartition("/")[2])
        if path.is_file():
            return self.resolve_filename(str(path), context)
        return None


def load_schema():
    imports = "".join(
        f'<xs:import namespace="{namespace}" schemaLocation="{SCHEMA_FOLDER.joinpath(name)}"/>'
        for namespace, name in SCHEMA_FILES.items()
    )
    # These are pysaml2's files, not input: the DTD of xmldsig-core-schema.xsd declares the
    # entities its text uses.
    parser = etree.XMLParser(no_network=True, load_dtd=True, resolve_entities=True)
    parser.resolvers.add(PackagedSchemas())
    wrapper = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    return etree.XMLSchema(etree.fromstring(wrapper, parser))


# A validator keeps the last errors on itself: one per thread.
_local = threading.local()


def validate(document):
    """pysaml2's ``saml2.xml.schema.validate``: raises XMLSchemaError for a document (pysaml2's
    serialisation of a parsed element) the SAML schemas do not allow."""
    if not hasattr(_local, "schema"):
        _local.schema = load_schema()
    schema = _local.schema
    if isinstance(document, str):
        document = document.encode("utf-8")
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False)
    try:
        valid = schema.validate(etree.fromstring(document, parser))
    except etree.XMLSyntaxError as error:
        raise XMLSchemaError({"doc": document, "error": str(error)}) from None
    if not valid:
        raise XMLSchemaError({"doc": document, "error": str(schema.error_log.last_error)})
