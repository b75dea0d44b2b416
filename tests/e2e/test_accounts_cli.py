"""Many firms on one platform, end to end through the CLI against a real `suanli up`:
the operator lets two tenants in, each with a consumer and a token; tenant B cannot see,
read the logs of, cancel or list tenant A's job; a revoked token gets 401; a provider
admin cannot price or register another provider's cluster; the auditor reads it all in
the audit log."""

from __future__ import annotations

import json
import time

from tests.e2e.cli import js, new_token, ok, refused
from tests.e2e.harness import Server


def test_two_tenants_a_provider_and_an_auditor_stay_in_their_lanes(server: Server) -> None:
    srv = server
    ok(srv, None, "tenant", "add", "acme", "--sector", "金融", "--contact", "ops@acme.cn")
    ok(srv, None, "tenant", "add", "beta", "--sector", "research")
    ok(srv, None, "user", "add", "ann", "--tenant", "acme", "--role", "consumer")
    ok(srv, None, "user", "add", "bob", "--tenant", "beta", "--role", "consumer")
    ok(srv, None, "user", "add", "aud", "--role", "auditor")
    ann, bob, aud = new_token(srv, "ann"), new_token(srv, "bob"), new_token(srv, "aud")
    assert ann.startswith("sl_") and len({ann, bob, aud}) == 3
    shown = js(srv, None, "tenant", "show", "acme")
    assert (shown["sector"], [u["id"] for u in shown["users"]]) == ("finance", ["ann"])

    job_id = ok(srv, ann, "submit", "--name", "acme-train", "--", "echo", "acme-secret").strip()
    deadline = time.monotonic() + 60
    while (job := js(srv, ann, "job", job_id))["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline, (job["status"], job["reason"], srv.diagnostics())
        time.sleep(0.3)
    assert "acme-secret" in ok(srv, ann, "logs", job_id)

    # tenant B: not found, whatever it tries
    assert "No job" in refused(srv, bob, "job", job_id)
    assert "acme-secret" not in refused(srv, bob, "logs", job_id)
    assert "No job" in refused(srv, bob, "cancel", job_id)
    assert job_id not in ok(srv, bob, "jobs", "--json")
    assert "No tenant" in refused(srv, bob, "tenant", "show", "acme")
    assert js(srv, ann, "job", job_id)["status"] == "SUCCEEDED"

    # a consumer cannot let anyone in or make tokens for others
    refused(srv, bob, "tenant", "add", "evil")
    refused(srv, bob, "token", "create", "--user", "ann")

    # revoked: 401 within a second
    ann_tokens = js(srv, None, "token", "list", "--user", "ann")
    assert [t["name"] for t in ann_tokens] == ["e2e"] and "sl_" not in json.dumps(ann_tokens)
    ok(srv, None, "token", "revoke", ann_tokens[0]["id"])
    time.sleep(1.0)
    assert "not valid" in refused(srv, ann, "jobs")

    # a provider admin prices and registers only its own provider's clusters
    ok(srv, None, "provider", "add", "p1")
    ok(srv, None, "provider", "add", "p2")
    ok(srv, None, "region", "add", "r1")
    ok(srv, None, "user", "add", "pat", "--provider", "p1", "--role", "provider")
    pat = new_token(srv, "pat")
    assert "not 'local'" in refused(srv, pat, "price", "local", "5")
    assert "not 'p2'" in refused(
        srv, pat, "cluster", "add", "stolen", "--provider", "p2", "--region", "r1"
    )
    agent_token = ok(srv, pat, "cluster", "add", "mine", "--provider", "p1", "--region", "r1")
    assert agent_token.strip().startswith("sl_")
    ok(srv, pat, "price", "mine", "4.5")
    assert [c["id"] for c in js(srv, aud, "pool") if c["id"] == "stolen"] == []

    # the auditor reads everything, changes nothing, and the log has each step
    assert job_id in ok(srv, aud, "jobs", "--json")
    refused(srv, aud, "cancel", job_id)
    refused(srv, aud, "logs", job_id)
    actions = [e["action"] for e in js(srv, aud, "audit", "--limit", "100")["items"]]
    for action in ("tenant.add", "user.add", "token.create", "token.revoke", "cluster.add"):
        assert action in actions, actions
    assert "cluster.price" in actions
