"""Money as integer minor units inside, two-place decimals outside."""

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import Field

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("99999999.99")

# An amount a client sends: whole cents (OpenAPI says so with multipleOf), never negative.
Amount = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, multiple_of=CENT)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]


def to_minor(amount: Decimal) -> int:
    return int((amount / CENT).to_integral_value(rounding=ROUND_HALF_EVEN))


def to_decimal(minor: int) -> Decimal:
    return (Decimal(minor) * CENT).quantize(CENT)


def to_number(minor: int) -> float:
    """For JSON numbers: the shortest float repr of a cent amount prints as written
    (1999 → 19.99), and every amount below 2**53 cents is exact to the cent."""
    return minor / 100


def to_text(minor: int) -> str:
    whole, cents = divmod(abs(minor), 100)
    return f"{'-' if minor < 0 else ''}{whole}.{cents:02d}"
