"""A SAML 2.0 identity provider for tests: its own RSA key and self-signed certificate, its metadata
(served over HTTP on 127.0.0.1 too), and Responses with an Assertion signed by xmlsec.

Nothing is mocked on the portal's side: the Response is POSTed to the real ACS and checked by
allauth + python3-saml as a hosted IdP's would be.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from tests.support.ports import free_port

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
EMAIL_ATTRIBUTE = "urn:oid:0.9.2342.19200300.100.1.3"


def _instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def self_signed(common_name: str, *, days: int = 365) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2) if days > 0 else now - dt.timedelta(days=10))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return key, cert


class SamlIdp:
    """`with SamlIdp("https://idp.acme.test") as idp:` serves idp.metadata_url; idp.response(...) builds
    a signed Response for an AuthnRequest the portal sent (idp.request_id(location))."""

    def __init__(self, entity_id: str, *, with_cert: bool = True, cert_days: int = 365) -> None:
        self.entity_id = entity_id
        self.key, self.cert = self_signed(entity_id, days=cert_days)
        self.with_cert = with_cert
        self.sso_url = "https://idp.invalid/sso"  # never followed: the test answers for the IdP
        self.served: dict[str, tuple[int, str, bytes]] = {}
        self._server: ThreadingHTTPServer | None = None

    # ----------------------------------------------------------------- keys and metadata

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def cert_b64(self) -> str:
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()

    def metadata(self) -> str:
        key_descriptor = (
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            f"{self.cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            if self.with_cert
            else ""
        )
        return (
            '<?xml version="1.0"?>\n'
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID={quoteattr(self.entity_id)}>'
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            f"{key_descriptor}"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f"Location={quoteattr(self.sso_url)}/>"
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        )

    # ----------------------------------------------------------------- metadata over HTTP

    def __enter__(self) -> SamlIdp:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path == "/metadata.xml":
                    status, ctype, body = 200, "application/samlmetadata+xml", idp.metadata().encode()
                else:
                    status, ctype, body = idp.served.get(self.path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port(18400, 18499)), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/metadata.xml"

    # ----------------------------------------------------------------- responses

    @staticmethod
    def request_id(location: str) -> str:
        """The ID of the AuthnRequest in an HTTP-Redirect binding URL (what the IdP answers to)."""
        raw = parse_qs(urlsplit(location).query)["SAMLRequest"][0]
        xml = zlib.decompress(base64.b64decode(raw), -15)
        return etree.fromstring(xml).get("ID")

    def response(
        self,
        *,
        acs_url: str,
        audience: str,
        email: str,
        groups: list[str] = (),
        in_response_to: str | None = None,
        not_on_or_after: dt.datetime | None = None,
        sign_with: rsa.RSAPrivateKey | None = None,
        issuer: str | None = None,
        tamper: dict[str, str] | None = None,
        signed: bool = True,
    ) -> str:
        """The base64 SAMLResponse a browser would POST to the ACS. `tamper` replaces text after signing."""
        now = dt.datetime.now(dt.UTC)
        not_after = _instant(not_on_or_after or now + dt.timedelta(minutes=5))
        issuer = escape(issuer or self.entity_id)
        irt = f" InResponseTo={quoteattr(in_response_to)}" if in_response_to else ""
        group_values = "".join(
            f'<saml:AttributeValue xsi:type="xs:string">{escape(g)}</saml:AttributeValue>' for g in groups
        )
        assertion_id = f"_a{secrets.token_hex(16)}"
        xml = (
            f'<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_r{secrets.token_hex(16)}" '
            f'Version="2.0" IssueInstant="{_instant(now)}" Destination={quoteattr(acs_url)}{irt}>'
            f"<saml:Issuer>{issuer}</saml:Issuer>"
            '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
            '<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="{assertion_id}" Version="2.0" '
            f'IssueInstant="{_instant(now)}">'
            f"<saml:Issuer>{issuer}</saml:Issuer>"
            "<saml:Subject>"
            '<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">'
            f"{escape(email)}</saml:NameID>"
            '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
            f'<saml:SubjectConfirmationData NotOnOrAfter="{not_after}" Recipient={quoteattr(acs_url)}{irt}/>'
            "</saml:SubjectConfirmation></saml:Subject>"
            f'<saml:Conditions NotBefore="{_instant(now - dt.timedelta(minutes=1))}" NotOnOrAfter="{not_after}">'
            f"<saml:AudienceRestriction><saml:Audience>{escape(audience)}</saml:Audience>"
            "</saml:AudienceRestriction></saml:Conditions>"
            f'<saml:AuthnStatement AuthnInstant="{_instant(now)}" SessionIndex="_s{secrets.token_hex(8)}">'
            "<saml:AuthnContext><saml:AuthnContextClassRef>"
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
            "<saml:AttributeStatement>"
            f'<saml:Attribute Name="{EMAIL_ATTRIBUTE}">'
            f'<saml:AttributeValue xsi:type="xs:string">{escape(email)}</saml:AttributeValue></saml:Attribute>'
            f'<saml:Attribute Name="groups">{group_values}</saml:Attribute>'
            "</saml:AttributeStatement></saml:Assertion></samlp:Response>"
        )
        if signed:
            xml = self._sign_assertion(xml, sign_with or self.key)
        for old, new in (tamper or {}).items():
            assert old in xml, old
            xml = xml.replace(old, new)
        return base64.b64encode(xml.encode()).decode()

    def _sign_assertion(self, xml: str, key: rsa.RSAPrivateKey) -> str:
        root = etree.fromstring(xml.encode())
        assertion = root.find(f"{{{SAML}}}Assertion")
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        signed = OneLogin_Saml2_Utils.add_sign(
            assertion,
            key_pem,
            self.cert_pem,
            sign_algorithm=OneLogin_Saml2_Constants.RSA_SHA256,
            digest_algorithm=OneLogin_Saml2_Constants.SHA256,
        )
        root.replace(assertion, etree.fromstring(signed))
        return etree.tostring(root).decode()
