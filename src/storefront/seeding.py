"""`storefront seed`: a database full of plausible data, made through the services (so
every rule holds: stock is taken by orders, prices are minor units, e-mails unique)."""

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from storefront.catalog import service as catalog_service
from storefront.catalog.schemas import ItemCreate
from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.core.errors import AppError
from storefront.core.security import PasswordHasher, password_hasher
from storefront.orders import service as orders_service
from storefront.orders.models import OrderStatus
from storefront.orders.schemas import OrderCreate, OrderLineCreate
from storefront.users import service as users_service
from storefront.users.models import Role

SEED_PASSWORD = "storefront-seed-password"
ITEM_BATCH = 500
USER_BATCH = 200

ADJECTIVES = (
    "Classic", "Compact", "Ergonomic", "Handmade", "Lightweight", "Organic", "Rugged",
    "Sleek", "Vintage", "Waterproof", "Wireless", "Recycled", "Premium", "Everyday",
)  # fmt: skip
NOUNS = {
    "kitchen": ("Mug", "Kettle", "Teapot", "Skillet", "Cutting Board", "Chef Knife", "Apron"),
    "outdoor": ("Backpack", "Tent", "Headlamp", "Water Bottle", "Rain Jacket", "Hammock"),
    "office": ("Notebook", "Desk Lamp", "Fountain Pen", "Monitor Stand", "Desk Organizer"),
    "audio": ("Headphones", "Speaker", "Turntable", "Microphone", "Earbuds"),
    "home": ("Blanket", "Candle", "Vase", "Throw Pillow", "Wall Clock", "Doormat"),
}  # fmt: skip
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Perlman")

Advance = Callable[[int], None]


@dataclass
class SeedReport:
    items: int = 0
    users: int = 0
    orders: int = 0
    orders_refused: int = 0


class SharedHashHasher(PasswordHasher):
    """Every seeded user gets the same password: hash it once, not once per user."""

    def __init__(self, inner: PasswordHasher) -> None:
        self._inner = inner
        self._hashes: dict[str, str] = {}

    async def hash(self, password: str) -> str:
        if password not in self._hashes:
            self._hashes[password] = await self._inner.hash(password)
        return self._hashes[password]


def random_item(rng: random.Random, run: str, number: int) -> ItemCreate:
    category = rng.choice(sorted(NOUNS))
    noun = rng.choice(NOUNS[category])
    adjective = rng.choice(ADJECTIVES)
    return ItemCreate(
        sku=f"SEED-{run}-{number:07d}",
        name=f"{adjective} {noun}",
        description=f"A {adjective.lower()} {noun.lower()} for {category} use, number {number}.",
        category=category,
        price=Decimal(rng.randrange(199, 49_999)) / 100,
        stock=rng.randrange(20, 500),
    )


class Seeder:
    def __init__(self, settings: Settings, *, seed: int | None = None) -> None:
        self.settings = settings
        self.rng = random.Random(seed)
        self.run = uuid.uuid4().hex[:6]
        self.database = Database(settings)
        self.report = SeedReport()
        self.item_ids: list[int] = []
        self.user_ids: list[int] = []

    async def items(self, count: int, advance: Advance) -> None:
        for start in range(0, count, ITEM_BATCH):
            size = min(ITEM_BATCH, count - start)
            async with unit_of_work(self.database.sessionmaker) as session:
                for number in range(start, start + size):
                    data = random_item(self.rng, self.run, number)
                    item = await catalog_service.create(session, data=data)
                    self.item_ids.append(item.id)
            self.report.items += size
            advance(size)

    async def users(self, count: int, advance: Advance) -> None:
        hasher = SharedHashHasher(password_hasher(self.settings))
        for start in range(0, count, USER_BATCH):
            size = min(USER_BATCH, count - start)
            async with unit_of_work(self.database.sessionmaker) as session:
                for number in range(start, start + size):
                    first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
                    user = await users_service.create(
                        session,
                        email=f"{first}.{last}.{self.run}.{number}@example.com".lower(),
                        password=SEED_PASSWORD,
                        full_name=f"{first} {last}",
                        role=Role.USER,
                        hasher=hasher,
                    )
                    self.user_ids.append(user.id)
            self.report.users += size
            advance(size)

    async def orders(self, count: int, advance: Advance) -> None:
        if not self.item_ids or not self.user_ids:
            raise ValueError("orders need seeded items and users (--items and --users)")
        # Seeded status changes are not news: the database has no hub, nobody listens.
        for _ in range(count):
            await self._order()
            advance(1)

    async def _order(self) -> None:
        lines = [
            OrderLineCreate(item_id=item_id, quantity=self.rng.randint(1, 3))
            for item_id in self.rng.sample(self.item_ids, k=min(len(self.item_ids), 3))[
                : self.rng.randint(1, 3)
            ]
        ]
        try:
            async with unit_of_work(self.database.sessionmaker) as session:
                placed = await orders_service.place(
                    session,
                    user_id=self.rng.choice(self.user_ids),
                    data=OrderCreate(lines=lines),
                    idempotency_key=None,
                )
                order = await orders_service.get(session, placed.order_id)
                for status in self._lifecycle():
                    order = await orders_service.change_status(session, order, status=status)
        except AppError:
            self.report.orders_refused += 1  # sold out: a real shop sees that too
            return
        self.report.orders += 1

    def _lifecycle(self) -> list[OrderStatus]:
        steps = [OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED]
        return steps[: self.rng.choice((0, 1, 1, 2, 3, 3))]

    async def aclose(self) -> None:
        await self.database.dispose()
