"""Templates to a subject, a text part and an HTML part; then to a MIME message."""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import cache

from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)

from storefront.core.config import Settings
from storefront.mail.errors import MailTemplateError
from storefront.mail.schemas import MailRequest

FALLBACK_MESSAGE_ID_DOMAIN = "storefront.local"


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str


@cache
def template_environment() -> Environment:
    """One environment per process: Jinja compiles each template once and keeps it."""
    return Environment(
        loader=PackageLoader("storefront.mail", "templates"),
        # Only the HTML part is markup; escaping the text part would show "&lt;" to readers.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship inside the package and never change while the process runs.
        auto_reload=False,
    )


def render(settings: Settings, request: MailRequest) -> RenderedMail:
    # The base URL comes from the settings, never from the caller's context.
    context = {**request.context, "public_base_url": settings.public_base_url.rstrip("/")}
    environment = template_environment()
    try:
        subject = environment.get_template(f"{request.template}.subject.txt").render(context)
        text = environment.get_template(f"{request.template}.txt").render(context)
        html = environment.get_template(f"{request.template}.html").render(context)
    except TemplateError as error:
        raise MailTemplateError(f"mail template {request.template!r}: {error}") from error
    # A header is one line: a newline in a user's name must not end it early.
    return RenderedMail(subject=" ".join(subject.split()), text=text, html=html)


def build_message(settings: Settings, *, to: str, rendered: RenderedMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=_message_id_domain(settings.smtp_from))
    # Quoted-printable keeps every line 7-bit, so no server needs 8BITMIME to relay it.
    message.set_content(rendered.text, cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    return message


def compose(settings: Settings, request: MailRequest) -> EmailMessage:
    return build_message(settings, to=request.to, rendered=render(settings, request))


def _message_id_domain(sender: str) -> str:
    # make_msgid() would otherwise ask the resolver for this host's FQDN on every mail.
    _, address = parseaddr(sender)
    _, _, domain = address.rpartition("@")
    return domain or FALLBACK_MESSAGE_ID_DOMAIN
