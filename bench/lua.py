"""The wrk Lua script of a request: bench/wrk.lua plus the request itself.

A request without placeholders is set once on the `wrk` table (wrk then sends the same
bytes every time); one with placeholders gets a `request()` that builds each request.
"""

from collections.abc import Mapping
from pathlib import Path

from bench.endpoints import PLACEHOLDER, Request

LIBRARY = Path(__file__).with_name("wrk.lua")
LUA_CALLS = {"item": "random_item()", "page": "random_page()", "unique": "unique()"}
PRINTABLE = range(0x20, 0x7F)
ESCAPED = frozenset(b'"\\')


def lua_string(value: str) -> str:
    """A Lua string literal: printable ASCII as is, every other byte as a decimal escape."""
    return (
        '"'
        + "".join(
            chr(b) if b in PRINTABLE and b not in ESCAPED else f"\\{b:03d}" for b in value.encode()
        )
        + '"'
    )


def lua_expression(template: str) -> str:
    """A Lua expression for `template`, its placeholders as calls into bench/wrk.lua."""
    parts: list[str] = []
    position = 0
    for match in PLACEHOLDER.finditer(template):
        if match.start() > position:
            parts.append(lua_string(template[position : match.start()]))
        parts.append(LUA_CALLS[match.group(1)])
        position = match.end()
    if position < len(template) or not parts:
        parts.append(lua_string(template[position:]))
    return " .. ".join(parts)


def request_lua(request: Request, headers: Mapping[str, str]) -> str:
    """`headers` are the request's own plus those the run adds (the bearer token)."""
    lines = [f"wrk.method = {lua_string(request.method)}"]
    dynamic = {name: value for name, value in headers.items() if PLACEHOLDER.search(value)}
    lines += [
        f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
        for name, value in headers.items()
        if name not in dynamic
    ]
    if request.is_static:
        if request.body is not None:
            lines.append(f"wrk.body = {lua_string(request.body)}")
        return "\n".join(lines) + "\n"
    lines.append("function request()")
    lines += [
        f"   wrk.headers[{lua_string(name)}] = {lua_expression(value)}"
        for name, value in dynamic.items()
    ]
    body = "nil" if request.body is None else lua_expression(request.body)
    lines.append(f"   return wrk.format(nil, {lua_expression(request.path)}, nil, {body})")
    lines.append("end")
    return "\n".join(lines) + "\n"


def script(request: Request, headers: Mapping[str, str]) -> str:
    return LIBRARY.read_text() + "\n-- The request.\n" + request_lua(request, headers)
