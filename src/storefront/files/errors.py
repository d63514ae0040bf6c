from storefront.core.errors import NotFound


class FileNotFound(NotFound):
    default_detail = "The file does not exist."
