from storefront.core.errors import Conflict, NotFound, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "INVALID_CREDENTIALS"
    default_detail = "The e-mail address or the password is not correct."


class NotAuthenticated(Unauthorized):
    default_detail = "Sign in: send a bearer access token or an X-API-Key."


class InvalidAccessToken(Unauthorized):
    code = "INVALID_TOKEN"
    default_detail = "The access token is invalid or expired, or its session has ended."


class InvalidApiKey(Unauthorized):
    code = "INVALID_API_KEY"
    default_detail = "The API key is invalid or has been revoked."


class InvalidRefreshToken(Unauthorized):
    code = "INVALID_REFRESH_TOKEN"
    default_detail = "The refresh token is invalid or expired, or its session has ended."


class RefreshTokenReused(InvalidRefreshToken):
    """A spent refresh token came back: someone holds a copy. Its session is ended."""

    default_detail = "The refresh token was already used; its session has been ended."


class InvalidResetToken(Unauthorized):
    """The reset token is the credential of its request, like a refresh token."""

    code = "INVALID_RESET_TOKEN"
    default_detail = "The password reset token is invalid, expired or already used."


class ApiKeyNotFound(NotFound):
    default_detail = "The API key does not exist."


class TooManyApiKeys(Conflict):
    default_detail = "Too many API keys: delete one first."
