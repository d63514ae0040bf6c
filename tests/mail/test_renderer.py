from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from importlib.resources import files
from typing import get_args

import pytest

from storefront.mail.errors import MailTemplateError, PermanentMailError
from storefront.mail.renderer import build_message, compose, render
from storefront.mail.schemas import MailRequest, MailTemplate
from tests.mail.factories import CONTEXTS, PUBLIC_BASE_URL, mail_settings

SCRIPT = "<script>alert('x')</script>"


def request_for(template: MailTemplate, **context: object) -> MailRequest:
    return MailRequest.model_validate(
        {
            "to": "ada@example.com",
            "template": template,
            "context": {**CONTEXTS[template], **context},
        }
    )


def test_every_template_ships_with_the_package() -> None:
    templates = files("storefront.mail") / "templates"
    for name in get_args(MailTemplate):
        for suffix in (".subject.txt", ".txt", ".html"):
            assert (templates / f"{name}{suffix}").is_file(), f"{name}{suffix}"


@pytest.mark.parametrize("template", get_args(MailTemplate))
def test_every_template_renders_a_subject_a_text_and_an_html_part(template: MailTemplate) -> None:
    rendered = render(mail_settings(), request_for(template))
    assert rendered.subject
    assert "\n" not in rendered.subject
    assert PUBLIC_BASE_URL in rendered.text
    assert "<" not in rendered.text
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert f'href="{PUBLIC_BASE_URL}' in rendered.html


def test_welcome_greets_by_name_and_points_at_the_docs() -> None:
    rendered = render(mail_settings(), request_for("welcome"))
    assert rendered.subject == "Welcome to Storefront, Ada Lovelace"
    assert "Hello Ada Lovelace," in rendered.text
    assert f"{PUBLIC_BASE_URL}/docs" in rendered.text
    assert f'href="{PUBLIC_BASE_URL}/docs"' in rendered.html


def test_password_reset_links_the_token_and_shows_it_for_api_users() -> None:
    rendered = render(mail_settings(), request_for("password_reset", token="tok+en/="))
    link = f"{PUBLIC_BASE_URL}/reset-password?token=tok%2Ben/%3D"
    assert link in rendered.text
    assert f'href="{link}"' in rendered.html
    assert "\ntok+en/=\n" in rendered.text
    assert ">tok+en/=</code>" in rendered.html
    assert "1 hour" in rendered.text
    assert "1 hour" in rendered.html


def test_report_ready_names_the_report_and_links_its_download() -> None:
    rendered = render(mail_settings(), request_for("report_ready"))
    link = f"{PUBLIC_BASE_URL}/api/v1/reports/42/download"
    assert rendered.subject == "Your sales report is ready"
    assert "report 42" in rendered.text
    assert link in rendered.text
    assert f'href="{link}"' in rendered.html


def test_html_escapes_user_input_and_text_keeps_it_verbatim() -> None:
    rendered = render(mail_settings(), request_for("welcome", full_name=SCRIPT))
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in rendered.html
    assert f"Hello {SCRIPT}," in rendered.text


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    request = MailRequest(to="ada@example.com", template="password_reset", context={})
    with pytest.raises(MailTemplateError, match="token") as caught:
        render(mail_settings(), request)
    assert isinstance(caught.value, PermanentMailError)


def test_links_use_the_configured_base_url_never_the_callers() -> None:
    request = request_for("welcome", public_base_url="https://evil.example")
    rendered = render(mail_settings(), request)
    assert "evil.example" not in rendered.text + rendered.html


def test_a_newline_in_a_name_cannot_add_a_header() -> None:
    request = request_for("welcome", full_name="Eve\r\nBcc: mallory@example.com")
    message = compose(mail_settings(), request)
    assert message["Subject"] == "Welcome to Storefront, Eve Bcc: mallory@example.com"
    assert message["Bcc"] is None


def test_the_message_is_multipart_alternative_with_every_header() -> None:
    settings = mail_settings()
    rendered = render(settings, request_for("welcome", full_name="Zoë Ångström"))
    message = build_message(settings, to="zoe@example.com", rendered=rendered)

    assert message.get_content_type() == "multipart/alternative"
    assert message["From"] == "Storefront <noreply@shop.example>"
    assert message["To"] == "zoe@example.com"
    assert message["Subject"] == "Welcome to Storefront, Zoë Ångström"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["Message-ID"].endswith("@shop.example>")
    text, html = (part_of(message, subtype) for subtype in ("plain", "html"))
    assert "Hello Zoë Ångström," in text
    assert "Hello Zoë Ångström," in html
    # Any SMTP server can relay it, with or without 8BITMIME.
    assert message.as_bytes().isascii()


def test_every_message_gets_its_own_id() -> None:
    settings = mail_settings()
    ids = {compose(settings, request_for("welcome"))["Message-ID"] for _ in range(3)}
    assert len(ids) == 3


def part_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    assert part.get_content_type() == f"text/{subtype}"
    content: str = part.get_content()
    return content
