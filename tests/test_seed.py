"""`storefront seed` fills a database through the services: stock, totals and e-mails
obey the same rules as the API's."""

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from storefront.catalog.models import Item
from storefront.cli import app as cli
from storefront.orders.models import Order, OrderLine
from storefront.users.models import User
from tests.test_cli import environment


def test_seed_creates_consistent_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in environment(tmp_path).items():
        monkeypatch.setenv(name, value)

    result = CliRunner().invoke(
        cli, ["seed", "--items", "60", "--users", "5", "--orders", "40", "--seed", "3"]
    )

    assert result.exit_code == 0, result.output
    assert "Seeded 60 items, 5 users" in result.output
    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Item)) == 60
        assert (connection.scalar(select(func.count()).select_from(User)) or 0) >= 5
        orders = connection.scalar(select(func.count()).select_from(Order))
        assert orders is not None and 0 < orders <= 40
        # Every unit ordered was taken from stock: units_sold is the live orders' sum.
        live = Order.status != "cancelled"
        ordered = connection.scalar(select(func.sum(OrderLine.quantity)).join(Order).where(live))
        assert connection.scalar(select(func.sum(Item.units_sold))) == ordered
        # Totals are the lines' sums.
        mismatched = connection.scalar(
            select(func.count())
            .select_from(Order)
            .where(
                Order.total_minor
                != select(func.sum(OrderLine.quantity * OrderLine.unit_price_minor))
                .where(OrderLine.order_id == Order.id)
                .scalar_subquery()
            )
        )
        assert mismatched == 0
    engine.dispose()
