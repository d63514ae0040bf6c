from storefront.core.errors import Conflict, NotFound


class ItemNotFound(NotFound):
    default_detail = "The item does not exist."


class SkuTaken(Conflict):
    code = "SKU_TAKEN"
    default_detail = "An item with this SKU already exists."


class ItemInUse(Conflict):
    code = "ITEM_IN_USE"
    default_detail = "The item is part of orders and cannot be deleted."


class OutOfStock(Conflict):
    code = "OUT_OF_STOCK"
    default_detail = "Not enough units in stock."
