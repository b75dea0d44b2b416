"""HTTP client for the suanli API. Raises ApiError carrying the server's problem
document, so callers can show its message and hint."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_TIMEOUT_S = 30.0


def _seg(value: str) -> str:
    """One URL path segment: '/', '?' and '#' escaped so a name cannot change the route."""
    return quote(value, safe=":@")


class ApiError(Exception):
    """A non-2xx answer. `status` is the HTTP status (0: the server was not reached)."""

    def __init__(self, status: int, detail: str, problem: Mapping[str, Any] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problem = dict(problem or {})


TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
"""Job statuses after which nothing changes."""


class WaitTimeout(TimeoutError):
    """`wait` gave up before the job ended; `job` is the job as last seen."""

    def __init__(self, message: str, job: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.job = dict(job)


def _problem(response: httpx.Response) -> ApiError:
    """The API's problem document as an ApiError."""
    try:
        problem = response.json()
        detail = str(problem.get("detail", response.text))
    except ValueError:
        problem, detail = {}, response.text or response.reason_phrase
    return ApiError(response.status_code, detail, problem)


def _unreachable(url: str, exc: Exception) -> ApiError:
    return ApiError(
        0,
        f"Cannot reach the suanli API at {url} ({exc}). "
        "To fix: start it with `suanli up`, or set SUANLI_URL.",
    )


def _connection(url: str, token: str | None) -> tuple[str, dict[str, str]]:
    """The base URL and the headers a client sends."""
    return url.rstrip("/"), ({"Authorization": f"Bearer {token}"} if token else {})


def _usage_params(
    by: str, tenant: str | None, since: str | None, until: str | None
) -> dict[str, str]:
    query = {"by": by, "tenant": tenant, "since": since, "until": until}
    return {k: v for k, v in query.items() if v}


def _jobs_params(
    status: list[str] | None, limit: int, cursor: int | None, tenant: str | None, array: str | None
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    for key, value in (
        ("status", status),
        ("cursor", cursor),
        ("tenant", tenant),
        ("array", array),
    ):
        if value:
            params[key] = value
    return params


def _logs_params(stream: str, offset: int, attempt: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"stream": stream, "offset": offset}
    if attempt is not None:
        params["attempt"] = attempt
    return params


def _logs_result(r: httpx.Response) -> tuple[bytes, str, int]:
    return (
        r.content,
        r.headers.get("x-suanli-status", ""),
        int(r.headers.get("x-suanli-attempt", "0")),
    )


class Client:
    """The suanli API, synchronously (`AsyncClient` for asyncio). Every method raises
    ApiError on a 4xx/5xx answer (its `detail` says what to do) or when the API cannot
    be reached (`status` 0). See docs/sdk.md."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url, headers = _connection(url, token)
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc) from exc
        if response.status_code >= 400:
            raise _problem(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    # --- users ------------------------------------------------------------------
    def submit(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """Queue one job (the fields of JobCreate); returns the job."""
        result: dict[str, Any] = self._json("POST", "/v1/jobs", json=dict(job))
        return result

    def submit_service(
        self, job: Mapping[str, Any], *, service: str, replicas: int
    ) -> dict[str, Any]:
        """Queue `replicas` jobs of one spec as the replicas of `service` (named
        SERVICE-0..), all or none; returns {"service": ..., "jobs": [job, ...]}."""
        body = {**job, "service": service, "replicas": replicas}
        result: dict[str, Any] = self._json("POST", "/v1/services", json=body)
        return result

    def submit_array(self, job: Mapping[str, Any], array: str) -> dict[str, Any]:
        """Queue a job array: one job of `job` per index of `array` (Slurm's syntax,
        '0-99%10'), all or none; returns {"array_id": "a-...", "jobs": [job, ...]}. Each
        task reads its index from SLURM_ARRAY_TASK_ID."""
        result: dict[str, Any] = self._json("POST", "/v1/jobs/arrays", json={**job, "array": array})
        return result

    def jobs(
        self,
        *,
        status: list[str] | None = None,
        limit: int = 100,
        cursor: int | None = None,
        tenant: str | None = None,
        array: str | None = None,
    ) -> dict[str, Any]:
        """A page of jobs, newest first: {"items": [...], "next_cursor": ...}; `array`:
        only that array's tasks."""
        params = _jobs_params(status, limit, cursor, tenant, array)
        result: dict[str, Any] = self._json("GET", "/v1/jobs", params=params)
        return result

    def wait(
        self,
        job_id: str,
        *,
        timeout_s: float | None = None,
        poll_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """Poll until the job has ended (SUCCEEDED, FAILED or CANCELLED) and return it;
        raises WaitTimeout after `timeout_s` (None: wait as long as it takes)."""
        deadline = None if timeout_s is None else clock() + timeout_s
        while True:
            job = self.job(job_id)
            if job["status"] in TERMINAL:
                return job
            if deadline is not None and clock() >= deadline:
                raise WaitTimeout(f"Job {job_id} is still {job['status']}.", job)
            sleep(poll_s)

    def follow_logs(
        self,
        job_id: str,
        *,
        stream: str = "stdout",
        poll_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[bytes]:
        """The job's output as it comes, chunk by chunk, until the job has ended. When
        the job is retried, the new attempt's output follows from its beginning."""
        offset, attempt = 0, None
        while True:
            data, status, number = self.logs(job_id, stream=stream, offset=offset)
            if number != attempt:
                attempt = number
                if offset:  # a new attempt: read it from its start, not at the old offset
                    offset = 0
                    continue
            if data:
                offset += len(data)
                yield data
                continue
            if status in TERMINAL:
                # the agent pushes the last output before the final state
                data, _, _ = self.logs(job_id, stream=stream, offset=offset)
                if data:
                    yield data
                return
            sleep(poll_s)

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/v1/jobs/{job_id}")
        return result

    def cancel(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", f"/v1/jobs/{job_id}/cancel")
        return result

    def logs(
        self, job_id: str, *, stream: str = "stdout", offset: int = 0, attempt: int | None = None
    ) -> tuple[bytes, str, int]:
        """Returns (data, job status, attempt read)."""
        params = _logs_params(stream, offset, attempt)
        return _logs_result(self.request("GET", f"/v1/jobs/{job_id}/logs", params=params))

    def clusters(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/v1/clusters")
        return result

    def regions(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/v1/regions")
        return result

    def usage(
        self,
        *,
        by: str = "tenant",
        tenant: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]:
        params = _usage_params(by, tenant, since, until)
        result: list[dict[str, Any]] = self._json("GET", "/v1/usage", params=params)
        return result

    # --- scheduling settings (operator) -----------------------------------------
    def tenants(self) -> list[dict[str, Any]]:
        """Tenants with weight, cohort and quotas (a consumer token: its own tenant)."""
        result: list[dict[str, Any]] = self._json("GET", "/v1/tenants")
        return result

    def set_share(self, tenant: str, *, weight: float, cohort: str | None = None) -> dict[str, Any]:
        """Set a tenant's fair-share weight and cohort (None: in no cohort)."""
        result: dict[str, Any] = self._json(
            "PUT", f"/v1/tenants/{_seg(tenant)}/share", json={"weight": weight, "cohort": cohort}
        )
        return result

    def quotas(self, tenant: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", f"/v1/tenants/{_seg(tenant)}/quotas")
        return result

    def set_quota(
        self,
        tenant: str,
        flavor: str,
        *,
        nominal: float,
        borrowing_limit: float | None = None,
        lending_limit: float | None = None,
    ) -> dict[str, Any]:
        """Create or replace a quota; `cpu` amounts in cores, `gpu:<model>` in devices."""
        body = {
            "nominal": nominal,
            "borrowing_limit": borrowing_limit,
            "lending_limit": lending_limit,
        }
        result: dict[str, Any] = self._json(
            "PUT", f"/v1/tenants/{_seg(tenant)}/quotas/{_seg(flavor)}", json=body
        )
        return result

    def delete_quota(self, tenant: str, flavor: str) -> None:
        self.request("DELETE", f"/v1/tenants/{_seg(tenant)}/quotas/{_seg(flavor)}")

    def update_region(self, region: str, **settings: float | None) -> dict[str, Any]:
        """Change only the named settings (energy_price, carbon_intensity); None clears
        one."""
        result: dict[str, Any] = self._json(
            "PATCH", f"/v1/regions/{_seg(region)}", json=dict(settings)
        )
        return result

    def set_cluster_price(self, cluster_id: str, gpu_hour_price: float | None) -> dict[str, Any]:
        """Post a cluster's price per GPU-hour (None withdraws it); returns the cluster."""
        result: dict[str, Any] = self._json(
            "PUT",
            f"/v1/clusters/{_seg(cluster_id)}/price",
            json={"gpu_hour_price": gpu_hour_price},
        )
        return result

    def add_region(
        self,
        region_id: str,
        *,
        name: str = "",
        latitude: float | None = None,
        longitude: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"id": region_id, "name": name}
        if latitude is not None and longitude is not None:
            body |= {"latitude": latitude, "longitude": longitude}
        result: dict[str, Any] = self._json("POST", "/v1/regions", json=body)
        return result

    def add_provider(self, provider_id: str, *, name: str = "") -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "POST", "/v1/providers", json={"id": provider_id, "name": name}
        )
        return result

    def add_cluster(
        self, cluster_id: str, *, provider: str, region: str, engine: str
    ) -> dict[str, Any]:
        """Register a cluster: {"cluster": {...}, "agent_token": "..."} (token shown once)."""
        result: dict[str, Any] = self._json(
            "POST",
            "/v1/clusters",
            json={"id": cluster_id, "provider_id": provider, "region_id": region, "engine": engine},
        )
        return result

    # --- agents -----------------------------------------------------------------
    # --- accounts -----------------------------------------------------------------
    def whoami(self) -> dict[str, Any]:
        """Who this client's token belongs to: user, role, tenant or provider, permissions."""
        result: dict[str, Any] = self._json("GET", "/v1/me")
        return result

    def add_tenant(
        self,
        tenant_id: str,
        *,
        name: str = "",
        sector: str = "other",
        contact: str = "",
        size: str = "unknown",
    ) -> dict[str, Any]:
        """Create a tenant (operator)."""
        body = {"id": tenant_id, "name": name, "sector": sector, "contact": contact, "size": size}
        result: dict[str, Any] = self._json("POST", "/v1/tenants", json=body)
        return result

    def tenant(self, tenant_id: str) -> dict[str, Any]:
        """A tenant's account and users."""
        result: dict[str, Any] = self._json("GET", f"/v1/tenants/{_seg(tenant_id)}")
        return result

    def add_user(
        self,
        user_id: str,
        *,
        role: str,
        tenant: str | None = None,
        provider: str | None = None,
    ) -> dict[str, Any]:
        """Create a person's account (operator)."""
        body = {"id": user_id, "role": role, "tenant_id": tenant, "provider_id": provider}
        result: dict[str, Any] = self._json("POST", "/v1/users", json=body)
        return result

    def users(self, *, tenant: str | None = None, provider: str | None = None) -> list[Any]:
        params = {k: v for k, v in (("tenant", tenant), ("provider", provider)) if v}
        result: list[Any] = self._json("GET", "/v1/users", params=params)
        return result

    def disable_user(self, user_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", f"/v1/users/{_seg(user_id)}/disable")
        return result

    def create_token(
        self, *, user: str | None = None, name: str = "", expires: str | None = "90d"
    ) -> dict[str, Any]:
        """A new token ({'token': secret, 'info': {...}}); the secret is shown only here."""
        body = {"user_id": user, "name": name, "expires": expires}
        result: dict[str, Any] = self._json("POST", "/v1/tokens", json=body)
        return result

    def tokens(self, *, user: str | None = None, everyone: bool = False) -> list[Any]:
        params: dict[str, str] = {"user": user} if user else {}
        if everyone:
            params["all"] = "true"
        result: list[Any] = self._json("GET", "/v1/tokens", params=params)
        return result

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", f"/v1/tokens/{_seg(token_id)}/revoke")
        return result

    def audit(
        self,
        *,
        since: str | None = None,
        tenant: str | None = None,
        limit: int = 100,
        cursor: int | None = None,
    ) -> dict[str, Any]:
        """One page of the audit log, newest first: {'items': [...], 'next_cursor': ...}."""
        params: dict[str, Any] = {"limit": limit}
        for key, value in (("since", since), ("tenant", tenant), ("cursor", cursor)):
            if value is not None:
                params[key] = value
        result: dict[str, Any] = self._json("GET", "/v1/audit", params=params)
        return result

    def agent_register(
        self,
        nodes: list[dict[str, Any]],
        *,
        version: str,
        known: list[dict[str, Any]],
        capabilities: list[str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"nodes": nodes, "agent_version": version, "known": known}
        if capabilities is not None:
            body["capabilities"] = capabilities
        result: dict[str, Any] = self._json("POST", "/v1/agent/register", json=body)
        return result

    def agent_heartbeat(self, known: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "/v1/agent/heartbeat", json={"known": known})
        return result

    def agent_calibration(self, nodes: list[dict[str, Any]]) -> None:
        self.request("POST", "/v1/agent/calibration", json={"nodes": nodes})

    def request_calibration(self, cluster_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", f"/v1/clusters/{cluster_id}/calibrate")
        return result

    def units(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/v1/units")
        return result

    def agent_claim(self, limit: int = 50) -> dict[str, Any]:
        """{"assignments": [...], "cancel": [{"job_id", "attempt"}, ...]}"""
        result: dict[str, Any] = self._json("POST", "/v1/agent/claim", params={"limit": limit})
        return result

    def agent_report(self, job_id: str, attempt: int, state: Mapping[str, Any]) -> bool:
        result = self._json(
            "POST", f"/v1/agent/jobs/{job_id}/attempts/{attempt}/state", json=dict(state)
        )
        return bool(result["forget"])

    def agent_log(self, job_id: str, attempt: int, stream: str, offset: int, data: bytes) -> None:
        self.request(
            "POST",
            f"/v1/agent/jobs/{job_id}/attempts/{attempt}/logs/{stream}",
            params={"offset": offset},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    # --- the exchange -----------------------------------------------------------
    def offer(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Offer devices of a cluster for a block (fields of OfferCreate)."""
        result: dict[str, Any] = self._json("POST", "/v1/market/offers", json=dict(body))
        return result

    def withdraw_offer(self, offer_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("DELETE", f"/v1/market/offers/{_seg(offer_id)}")
        return result

    def bid(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A sealed bid (fields of BidCreate); its maximum cost is held at once."""
        result: dict[str, Any] = self._json("POST", "/v1/market/bids", json=dict(body))
        return result

    def withdraw_bid(self, bid_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("DELETE", f"/v1/market/bids/{_seg(bid_id)}")
        return result

    def resell(self, trade_id: str, reserve: str) -> dict[str, Any]:
        path = f"/v1/market/trades/{_seg(trade_id)}/resell"
        result: dict[str, Any] = self._json("POST", path, json={"reserve": reserve})
        return result

    def book(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/v1/market/book")
        return result

    def trades(self, tenant: str | None = None) -> list[dict[str, Any]]:
        params = {"tenant": tenant} if tenant else {}
        result: list[dict[str, Any]] = self._json("GET", "/v1/market/trades", params=params)
        return result

    def prices(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/v1/market/prices")
        return result

    def clearings(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/v1/market/clearings")
        return result

    def clear(self) -> dict[str, Any]:
        """Clear the call auction now (operator)."""
        result: dict[str, Any] = self._json("POST", "/v1/market/clear")
        return result

    # --- money ------------------------------------------------------------------
    def balance(self, tenant: str | None = None) -> dict[str, Any]:
        params = {"tenant": tenant} if tenant else {}
        result: dict[str, Any] = self._json("GET", "/v1/billing/balance", params=params)
        return result

    def provider_balance(self, provider: str) -> dict[str, Any]:
        path = f"/v1/billing/providers/{_seg(provider)}/balance"
        result: dict[str, Any] = self._json("GET", path)
        return result

    def deposit(self, tenant: str, amount: str, reference: str) -> dict[str, Any]:
        body = {"tenant": tenant, "amount": amount, "reference": reference}
        result: dict[str, Any] = self._json("POST", "/v1/billing/deposits", json=body)
        return result

    def set_credit(self, tenant: str, credit: str) -> dict[str, Any]:
        path = f"/v1/billing/credit/{_seg(tenant)}"
        result: dict[str, Any] = self._json("PUT", path, json={"credit": credit})
        return result

    def payout(self, provider: str, amount: str, reference: str) -> dict[str, Any]:
        body = {"provider": provider, "amount": amount, "reference": reference}
        result: dict[str, Any] = self._json("POST", "/v1/billing/payouts", json=body)
        return result

    def statement(self, month: str, *, tenant: str | None = None, fmt: str = "json") -> Any:
        """A monthly statement: a dict for json, the document's text for csv and html."""
        params = {"month": month, "format": fmt, **({"tenant": tenant} if tenant else {})}
        response = self.request("GET", "/v1/billing/statement", params=params)
        return response.json() if fmt == "json" else response.text

    def ledger_check(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/v1/ledger/check")
        return result

    # --- vouchers ---------------------------------------------------------------
    def issue_voucher(self, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "/v1/vouchers", json=dict(body))
        return result

    def vouchers(self, tenant: str | None = None) -> list[dict[str, Any]]:
        params = {"tenant": tenant} if tenant else {}
        result: list[dict[str, Any]] = self._json("GET", "/v1/vouchers", params=params)
        return result

    def revoke_voucher(self, voucher_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("DELETE", f"/v1/vouchers/{_seg(voucher_id)}")
        return result

    def voucher_report(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/v1/vouchers/report")
        return result
