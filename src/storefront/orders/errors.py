from storefront.core.errors import Conflict, NotFound, Unprocessable


class OrderNotFound(NotFound):
    default_detail = "The order does not exist."


class InvalidTransition(Conflict):
    code = "INVALID_STATUS_TRANSITION"
    default_detail = "The order cannot move to that status from its current one."


class MixedCurrencies(Unprocessable):
    code = "MIXED_CURRENCIES"
    default_detail = "All items of one order must be priced in the same currency."


class IdempotencyKeyReused(Unprocessable):
    code = "IDEMPOTENCY_KEY_REUSED"
    default_detail = "This Idempotency-Key was used with a different request body."


class IdempotencyKeyInUse(Conflict):
    code = "IDEMPOTENCY_KEY_IN_USE"
    default_detail = "A request with this Idempotency-Key is still being processed."
