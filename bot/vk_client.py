"""How Otklik talks to VK: vk_api, off the event loop, with retries and clean errors.

vk_api 11.10.1 is synchronous (``requests``), so every call runs in a worker thread
(:func:`asyncio.to_thread`). Build one client per token::

    client = VkClient(token, api_base=cfg.api_base, rps=20)      # community token: 20 req/s
    posts = await client.call("wall.get", owner_id=-1, count=20)
    attachments = await client.upload_wall_photos(group_id, [jpeg1, jpeg2])

or keep a bare ``vk_api.VkApi`` from :func:`make_vk` and use the module functions
:func:`call` and :func:`upload_wall_photos` (default retry policy).

- ``api_base`` redirects the fixed API host of vk_api (``https://api.vk.ru``, older
  releases ``https://api.vk.com``) to another server — a proxy or the test fake — through a
  ``requests`` transport adapter mounted on the session given to ``VkApi(session=...)``.
  Long-poll and upload URLs come from API answers, so they need no redirection.
- vk_api sleeps between requests of one ``VkApi`` (``RPS_DELAY``, a class attribute read
  through ``self``, under a per-instance lock): :func:`make_vk` sets it on the instance, so
  each client gets its own rate and nothing global is patched.
- vk_api's own handler of error 6 sleeps 0.5 s and retries forever, blocking the worker
  thread: it is removed, and :func:`call` retries errors 1, 6, 9, 10, HTTP 5xx and network
  errors with exponential backoff, then raises :class:`VkTemporaryError`. Every other API
  error is raised at once as :class:`VkPermanentError`.
- Tokens never reach error messages or logs: vk_api keeps them in the request parameters of
  its exceptions, so those are not chained, and every message is scrubbed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jconfig
import requests
import vk_api
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from vk_api.exceptions import TOO_MANY_RPS_CODE, ApiError, ApiHttpError, Captcha, VkApiError

API_VERSION = "5.199"
# vk_api 11.10.1 calls https://api.vk.ru/method/...; older releases used api.vk.com.
VK_API_HOSTS = ("https://api.vk.ru/", "https://api.vk.com/")
USER_RPS = 3.0  # user tokens
GROUP_RPS = 20.0  # community tokens
# Unknown error (VK asks to retry later), too many requests, flood control, internal error.
TEMPORARY_CODES = frozenset({1, 6, 9, 10})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

log = logging.getLogger(__name__)

_TOKEN_PARAM_RE = re.compile(r"(access_token[\"']?\s*[=:]\s*[\"']?)[^&\s\"',}]+", re.IGNORECASE)


class VkError(Exception):
    """A failed VK call: ``code`` is VK's error code (-1 for network and HTTP errors)."""

    def __init__(self, code: int, message: str, method: str = "") -> None:
        self.code, self.message, self.method = code, message, method
        where = f" in {method}" if method else ""
        super().__init__(f"VK error {code}{where}: {message}")


class VkTemporaryError(VkError):
    """Retries ran out on a transient failure (rate limits, VK's server errors, network)."""


class VkPermanentError(VkError):
    """VK refused the call for a reason a retry will not fix (auth, access, bad parameter)."""


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` calls in all; the n-th retry waits ``base_delay * 2**(n-1)`` seconds,
    at most ``max_delay``."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, retry: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** (retry - 1))


DEFAULT_RETRY = RetryPolicy()


# ----------------------------------------------------------------------------- transport


class VkHostAdapter(HTTPAdapter):
    """Sends requests for VK's API host to ``api_base`` instead (``{api_base}/method/...``).

    Proxies were chosen by the session for the original URL, so they are chosen again for
    the new one (never a proxy for loopback). ``timeout`` applies where the caller set none:
    vk_api sets none, and a stalled connection would hold a worker thread forever."""

    def __init__(self, api_base: str, *, timeout: float | None = 30.0,
                 proxy: str | None = None) -> None:
        super().__init__()
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.proxy = proxy

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        for host in VK_API_HOSTS:
            if url.startswith(host):
                request.url = f"{self.api_base}/{url[len(host):]}"
                kwargs["proxies"] = (_proxy_map(self.proxy) if self.proxy
                                     else _proxies_for(request.url))
                break
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def _proxies_for(url: str) -> dict[str, str]:
    if urlsplit(url).hostname in LOOPBACK_HOSTS:
        return {}
    return get_environ_proxies(url)


def _proxy_map(proxy: str) -> dict[str, str]:
    # requests speaks SOCKS through PySocks with the scheme "socks5h" (names resolved by the
    # proxy, as VK's hosts may not resolve locally).
    url = "socks5h" + proxy[len("socks5"):] if proxy.startswith("socks5://") else proxy
    return {"http": url, "https": url}


def make_session(api_base: str | None = None, *, timeout: float | None = 30.0,
                 proxy: str | None = None) -> requests.Session:
    """A ``requests`` session for vk_api; with ``api_base``, VK's API host goes there; with
    ``proxy`` (``http://``, ``socks5://``, ``socks4://``) every request goes through it."""
    session = requests.Session()
    session.headers["User-Agent"] = "Otklik (vk_api)"
    if proxy:
        session.proxies = _proxy_map(proxy)
        session.trust_env = False  # the environment's proxy would win over the configured one
    adapter = VkHostAdapter(api_base, timeout=timeout, proxy=proxy) if api_base else None
    if adapter is not None:
        for host in VK_API_HOSTS:
            session.mount(host, adapter)
    return session


def make_vk(token: str, api_base: str | None = None, *, rps: float | None = None,
            timeout: float | None = 30.0, proxy: str | None = None) -> vk_api.VkApi:
    """A ``VkApi`` for API 5.199 using ``token``.

    ``api_base``: another API host (``http://127.0.0.1:PORT`` for the fake). ``rps``: requests
    per second this client may make (``None``: vk_api's 3/s, right for user tokens; 20 for a
    community token; ``math.inf`` for no delay, as in tests). The limit holds per ``VkApi``
    object, so use one per token. ``timeout``: seconds per HTTP request."""
    vk = vk_api.VkApi(token=token, api_version=API_VERSION,
                      session=make_session(api_base, timeout=timeout, proxy=proxy),
                      config=jconfig.MemoryConfig)  # the default Config reads a file in cwd
    if rps is not None:
        if rps <= 0:
            raise ValueError("rps must be positive (math.inf for no delay)")
        vk.RPS_DELAY = 0.0 if math.isinf(rps) else 1.0 / rps
    # vk_api would sleep 0.5 s and retry error 6 forever inside the worker thread.
    vk.error_handlers.pop(TOO_MANY_RPS_CODE, None)
    return vk


# ----------------------------------------------------------------------------- calls


class VkClient:
    """A ``VkApi`` with its retry policy; see the module docstring."""

    def __init__(self, token: str, api_base: str | None = None, *, rps: float | None = None,
                 retry: RetryPolicy = DEFAULT_RETRY, timeout: float | None = 30.0,
                 proxy: str | None = None) -> None:
        self.api = make_vk(token, api_base, rps=rps, timeout=timeout, proxy=proxy)
        self.retry = retry

    async def call(self, method: str, /, **params: Any) -> Any:
        return await call(self, method, **params)

    async def upload_wall_photos(self, group_id: int, photos: list[bytes]) -> list[str]:
        return await upload_wall_photos(self, group_id, photos)


def _unwrap(vk: VkClient | vk_api.VkApi) -> tuple[vk_api.VkApi, RetryPolicy]:
    if isinstance(vk, VkClient):
        return vk.api, vk.retry
    return vk, DEFAULT_RETRY


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` without the given secrets and without any ``access_token=...`` value.
    Secrets under 8 characters (test tokens) are left: replacing them would garble text."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "***")
    return _TOKEN_PARAM_RE.sub(r"\1***", text)


def _token(api: vk_api.VkApi) -> str | None:
    return (api.token or {}).get("access_token")


def _classify(api: vk_api.VkApi, method: str, exc: Exception) -> VkError:
    """Our error for an exception of vk_api or requests, scrubbed of the token."""
    token = _token(api)
    if isinstance(exc, ApiError):
        message = scrub(str(exc.error.get("error_msg", "")), token)
        kind = VkTemporaryError if exc.code in TEMPORARY_CODES else VkPermanentError
        return kind(exc.code, message, method)
    if isinstance(exc, ApiHttpError):
        status = exc.response.status_code
        kind = VkTemporaryError if status >= 500 or status == 429 else VkPermanentError
        return kind(-1, f"HTTP {status}", method)
    if isinstance(exc, Captcha):
        return VkPermanentError(exc.code, "Captcha needed", method)
    response = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and response is not None:
        status = response.status_code
        kind = VkTemporaryError if status >= 500 or status == 429 else VkPermanentError
        return kind(-1, f"HTTP {status}", method)
    if isinstance(exc, requests.RequestException):
        return VkTemporaryError(-1, scrub(f"{type(exc).__name__}: {exc}", token), method)
    return VkPermanentError(-1, scrub(f"{type(exc).__name__}: {exc}", token), method)


async def _with_retries(api: vk_api.VkApi, retry: RetryPolicy, method: str,
                        attempt_once: Any) -> Any:
    """Run ``attempt_once`` in a worker thread, retrying transient failures."""
    for attempt in range(1, retry.attempts + 1):
        try:
            return await asyncio.to_thread(attempt_once)
        except (VkApiError, requests.RequestException) as exc:
            error = _classify(api, method, exc)
        # Raised outside the except block: vk_api's exceptions carry the token in their
        # request parameters, so they must not ride along as __context__.
        if isinstance(error, VkPermanentError) or attempt == retry.attempts:
            raise error
        delay = retry.delay(attempt)
        log.warning("VK %s failed (%s), retry %d/%d in %.2f s", method, error,
                    attempt, retry.attempts - 1, delay)
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # attempts >= 1


def _form_value(value: Any) -> Any:
    """VK's encoding of a parameter: 1/0 for booleans (requests would send "True"), comma
    separated lists, JSON for objects (keyboard, event_data)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, tuple, set)):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


async def call(vk: VkClient | vk_api.VkApi, method: str, /, **params: Any) -> Any:
    """``vk.method(method, params)`` off the event loop; the answer's ``response``.

    ``None`` values are left out; booleans, lists and dicts are encoded as VK expects (see
    :func:`_form_value`). Transient failures are retried with backoff and end in
    :class:`VkTemporaryError`; other API errors raise :class:`VkPermanentError` at once
    (``.code`` is VK's error code)."""
    api, retry = _unwrap(vk)
    values = {k: _form_value(v) for k, v in params.items() if v is not None}
    return await _with_retries(api, retry, method, lambda: api.method(method, values))


async def upload_wall_photos(vk: VkClient | vk_api.VkApi, group_id: int,
                             photos: list[bytes]) -> list[str]:
    """Upload photos for a post or comment of community ``group_id`` (a user token of one of
    its admins); return attachment strings ``photo{owner_id}_{id}`` in order.

    As ``VkUpload.photo_wall`` does: ``photos.getWallUploadServer`` → multipart POST to the
    ``upload_url`` → ``photos.saveWallPhoto``; but one photo per POST in the ``photo`` field
    (the wall upload server takes a single photo), reusing the upload URL."""
    if not photos:
        return []
    api, retry = _unwrap(vk)
    server = await call(vk, "photos.getWallUploadServer", group_id=group_id)
    upload_url = server["upload_url"]
    attachments = []
    for n, content in enumerate(photos, start=1):
        def post(content: bytes = content, n: int = n) -> dict[str, Any]:
            files = {"photo": (f"photo{n}.jpg", content, "image/jpeg")}
            response = api.http.post(upload_url, files=files, timeout=60)
            response.raise_for_status()
            return response.json()

        uploaded = await _with_retries(api, retry, "photos.upload", post)
        if "error" in uploaded or uploaded.get("photo") in (None, "", "[]"):
            detail = uploaded.get("error") or "no photo in the upload answer"
            raise VkPermanentError(22, f"Upload error: {json.dumps(detail)}", "photos.upload")
        saved = await call(vk, "photos.saveWallPhoto", group_id=group_id,
                           photo=uploaded["photo"], server=uploaded["server"],
                           hash=uploaded["hash"])
        attachments.extend(f"photo{p['owner_id']}_{p['id']}" for p in saved)
    return attachments
