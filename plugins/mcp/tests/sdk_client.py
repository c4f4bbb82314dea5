"""Drives kubectl-flux_mcp with the official Python MCP SDK (PyPI `mcp`), as an assistant would.

    sdk_client.py stdio CALLS.json SERVER [SERVER ARGS...]
    sdk_client.py http CALLS.json URL            (MCP_TOKEN: the bearer token, if any)

CALLS.json is a list of {"tool": NAME, "arguments": {...}}, with "cancelAfter": SECONDS to give up
on a call (the SDK then sends notifications/cancelled). Two steps coordinate with the test
between calls: {"signal": PATH} creates PATH; {"waitFor": PATH} waits (up to 60 s) until it exists. Prints one JSON document: the
server's name and negotiated protocol version, the tools it lists, and per call whether it is an
error, its structured content, its text blocks and how many progress notifications arrived.
A call that the SDK itself rejects (a protocol error) is reported as {"protocolError": message}.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


async def drive(session, calls):
    init = await session.initialize()
    await session.send_ping()
    listed = await session.list_tools()
    results = []
    for call in calls:
        if "signal" in call:
            open(call["signal"], "w").close()
            continue
        if "waitFor" in call:
            for _ in range(600):
                if os.path.exists(call["waitFor"]):
                    break
                await asyncio.sleep(0.1)
            else:
                raise TimeoutError(f"{call['waitFor']} never appeared")
            continue
        progress = []

        async def on_progress(value, total, message, progress=progress):
            progress.append(message)

        try:
            r = await session.call_tool(
                call["tool"],
                call.get("arguments", {}),
                read_timeout_seconds=call.get("cancelAfter"),
                progress_callback=on_progress,
            )
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            if "cancelAfter" in call:
                results.append({"tool": call["tool"], "abandoned": type(e).__name__})
            elif isinstance(e, MCPError):
                results.append({"tool": call["tool"], "protocolError": str(e)})
            else:
                raise
            continue
        results.append(
            {
                "tool": call["tool"],
                "isError": bool(r.is_error),
                "structured": r.structured_content,
                "text": [c.text for c in r.content if c.type == "text"],
                "progress": len(progress),
            }
        )
    return {
        "server": init.server_info.name,
        "protocolVersion": init.protocol_version,
        "tools": [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in listed.tools],
        "results": results,
    }


async def main():
    mode, calls_path = sys.argv[1], sys.argv[2]
    with open(calls_path) as f:
        calls = json.load(f)
    if mode == "stdio":
        params = StdioServerParameters(command=sys.argv[3], args=sys.argv[4:], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await drive(session, calls)
    else:
        token = os.environ.get("MCP_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=120) as client:
            async with streamable_http_client(sys.argv[3], http_client=client) as streams:
                async with ClientSession(streams[0], streams[1]) as session:
                    out = await drive(session, calls)
    print(json.dumps(out, sort_keys=True))


asyncio.run(main())
