"""What carries the calls: httpx's connections in a pool made for one origin, or aiohttp's.

httpx's own pool looks at every connection it holds for every request it places (and polls each
one's socket): at 64 connections a call cost several times what it needed to (docs/benchmarks.md).
``OriginPool`` takes the most recently used idle connection, checks only that one, and puts it
back once the answer is read; how many calls are out at once is bounded by the client's semaphore.
``PURECLARITY_TRANSPORT=aiohttp`` (extra ``pc-middleware[aiohttp]``) uses aiohttp instead, asyncio only.
Neither keeps cookies: one pool serves every shopper.
"""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import anyio
import httpcore
import httpx
import sniffio

if TYPE_CHECKING:
    import aiohttp


KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept, as httpx does


def make_transport(kind: str, url: httpx.URL, max_connections: int) -> httpx.AsyncBaseTransport:
    """The transport for calls to ``url``, honouring proxy variables as an httpx client would."""
    proxy = proxy_from_environment(url)
    if kind == "aiohttp":
        return AiohttpTransport(max_connections, proxy)
    if proxy is not None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        return httpx.AsyncHTTPTransport(limits=limits, proxy=proxy)
    return OriginPool(url)


def proxy_from_environment(url: httpx.URL) -> str | None:
    # What httpx.AsyncClient's trust_env would pick: HTTPS_PROXY, HTTP_PROXY or ALL_PROXY, unless NO_PROXY says not.
    proxies = urllib.request.getproxies_environment()
    if proxies.get("no") and urllib.request.proxy_bypass(url.host):
        return None
    return proxies.get(url.scheme) or proxies.get("all")


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    # httpcore's exceptions have the same names as httpx's: raise httpx's, as its transport does.
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise getattr(httpx, type(exc).__name__, httpx.TimeoutException)(str(exc)) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise getattr(httpx, type(exc).__name__, httpx.TransportError)(str(exc)) from exc


class OriginPool(httpx.AsyncBaseTransport):
    """An httpx transport for calls to one origin, reusing connections last in, first out."""

    def __init__(self, url: httpx.URL) -> None:
        self._origin = httpcore.Origin(url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        self._ssl_context = httpx.create_ssl_context() if url.scheme == "https" else None
        self._idle: list[httpcore.AsyncHTTPConnection] = []
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        connection = await self._checkout()
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            with _as_httpx_errors():
                answer = await connection.handle_async_request(core_request)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await connection.aclose()
            raise
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=_Body(answer, connection, self),
            extensions=answer.extensions,
        )

    async def _checkout(self) -> httpcore.AsyncHTTPConnection:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_idle() and not connection.has_expired():
                return connection
            await connection.aclose()
        return httpcore.AsyncHTTPConnection(
            self._origin, ssl_context=self._ssl_context, keepalive_expiry=KEEPALIVE_EXPIRY
        )

    async def _checkin(self, connection: httpcore.AsyncHTTPConnection) -> None:
        if connection.is_idle() and not self._closed:
            self._idle.append(connection)
        elif not connection.is_closed():  # not reusable, or the pool was closed while this call was out
            with anyio.CancelScope(shield=True):  # a deadline that just fired must not leave it open
                await connection.aclose()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.aclose()


class _Body(httpx.AsyncByteStream):
    def __init__(self, answer: httpcore.Response, connection: httpcore.AsyncHTTPConnection, pool: OriginPool):
        self._answer = answer
        self._connection = connection
        self._pool = pool

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._answer.aiter_stream():
                yield chunk

    async def aclose(self) -> None:
        # Read to the end, the connection is idle again and goes back; cut short, it is closed.
        try:
            with _as_httpx_errors():
                await self._answer.aclose()
        finally:
            await self._pool._checkin(self._connection)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Calls over aiohttp (asyncio only): its C parser makes a call cheaper than httpx's."""

    def __init__(self, max_connections: int, proxy: str | None = None) -> None:
        import aiohttp  # the optional extra: checked when the setting is read

        self._aiohttp = aiohttp
        self._max_connections = max_connections
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if sniffio.current_async_library() != "asyncio":
            raise httpx.UnsupportedProtocol("PURECLARITY_TRANSPORT=aiohttp runs on asyncio only")
        aiohttp = self._aiohttp
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=self._max_connections)
            # No cookie jar (one session serves every shopper); httpx decodes the body, as with its own transport.
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
            )
        phases = request.extensions.get("timeout", {})
        with self._as_httpx_errors():
            answer = await self._session.request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=request.content,
                allow_redirects=False,
                proxy=self._proxy,
                timeout=aiohttp.ClientTimeout(sock_connect=phases.get("connect"), sock_read=phases.get("read")),
            ).__aenter__()
        return httpx.Response(answer.status, headers=answer.raw_headers, stream=_AiohttpBody(answer, self))

    @contextlib.contextmanager
    def _as_httpx_errors(self) -> Iterator[None]:
        aiohttp = self._aiohttp
        try:
            yield
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except TimeoutError as exc:  # aiohttp's own socket timeouts
            raise httpx.ReadTimeout(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(str(exc)) from exc

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _AiohttpBody(httpx.AsyncByteStream):
    def __init__(self, answer: aiohttp.ClientResponse, transport: AiohttpTransport) -> None:
        self._answer = answer
        self._transport = transport

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with self._transport._as_httpx_errors():
            async for chunk in self._answer.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._answer.release()
