"""FastAPI hello-world: the same module for every server benchmarked."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict[str, str]:
    return {"message": "Hello, world!"}
