"""The reference: the least a FastAPI app can do per request, served like Storefront."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}
