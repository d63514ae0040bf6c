import pytest
from pydantic import ValidationError

from storefront.mail.schemas import MailRequest


def test_a_request_survives_a_json_round_trip_as_a_job_payload() -> None:
    request = MailRequest(
        to="ada@example.com",
        template="report_ready",
        context={"report_id": 7, "kind": "sales", "extra": [1, None, {"ok": True}]},
    )
    assert MailRequest.model_validate_json(request.model_dump_json()) == request


@pytest.mark.parametrize(
    "address",
    [
        "",
        "no-at-sign",
        "ada@",
        "@example.com",
        "ada lovelace@example.com",
        "ada@example.com\r\nBcc: eve@example.com",
        "Ada <ada@example.com>",
        "ada@example.com, eve@example.com",
        "ada@@example.com",
        "a" * 250 + "@example.com",
    ],
)
def test_anything_but_one_plain_address_is_refused(address: str) -> None:
    with pytest.raises(ValidationError):
        MailRequest(to=address, template="welcome", context={})


def test_unknown_templates_are_refused() -> None:
    with pytest.raises(ValidationError):
        MailRequest.model_validate({"to": "ada@example.com", "template": "newsletter"})


def test_a_context_must_be_json() -> None:
    with pytest.raises(ValidationError):
        MailRequest.model_validate(
            {"to": "ada@example.com", "template": "welcome", "context": {"tags": {1, 2}}}
        )
