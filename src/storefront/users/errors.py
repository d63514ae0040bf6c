from storefront.core.errors import BadRequest, Conflict, NotFound


class UserNotFound(NotFound):
    default_detail = "The user does not exist."


class EmailTaken(Conflict):
    code = "EMAIL_TAKEN"
    default_detail = "An account with this e-mail address already exists."


class WrongPassword(BadRequest):
    code = "WRONG_PASSWORD"
    default_detail = "The current password is not correct."


class OwnAccessUnchangeable(Conflict):
    default_detail = "Admins cannot change their own role or deactivate themselves."
