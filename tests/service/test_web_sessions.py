"""Console and portal sessions kept in the registry: a session begun on one app instance (one
`dsc serve` worker) is used on another over the same registry, on SQLite and PostgreSQL; the
registry holds only the id's hash; idle and absolute limits are enforced from the row; an edited
row is refused (and logged); logout deletes; a one-time download is served once, by any
instance; and the migration that brings the tables applies to a registry from before it."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import downgrade
from regkit import Clock, Env
from starlette.testclient import TestClient
from test_web_pages import PASSWORD, csrf, make_operator, sign_in

from host_tools.web.app import Settings, create_app
from provisioning import audit, integrity, operators, schema, websessions
from provisioning.registry import Registry


def two_apps(env: Env, clock: Clock) -> tuple[TestClient, TestClient]:
    """Two app instances (two workers) over the same registry, each with its own pool."""
    apps = [create_app(Settings(env.url, env.key_file, clock=clock, token_cache_seconds=0))
            for _ in range(2)]
    return (TestClient(apps[0], base_url="https://testserver"),
            TestClient(apps[1], base_url="https://testserver"))


def move_cookies(src: TestClient, dst: TestClient) -> None:
    """The browser's cookies, now sent to the other worker."""
    dst.cookies.clear()
    for c in src.cookies.jar:
        dst.cookies.set(c.name, c.value or "", domain=c.domain, path=c.path)


def test_a_session_begun_on_one_worker_is_used_on_another(both: Env, clock: Clock) -> None:
    env = both
    serial = make_operator(env, "hd", "helpdesk")
    env.active("alice", "1234")
    one, two = two_apps(env, clock)
    with one, two:
        # the sign-in's two steps on different workers, then pages on both
        page = one.get("/console/login")
        move_cookies(one, two)
        page = two.post("/console/login", data={"csrf": csrf(page.text), "name": "hd",
                                                "password": PASSWORD})
        assert page.status_code == 200, page.text
        move_cookies(two, one)
        challenge = re.search(r'id="challenge">(\d+)<', page.text)
        assert challenge
        r = one.post("/console/login/card", data={
            "csrf": csrf(page.text), "response": env.answer(serial, challenge.group(1), "4321")})
        assert "<h1>Search</h1>" in r.text
        move_cookies(one, two)
        r = two.get("/console/user/alice")
        assert r.status_code == 200 and "<h1>User alice</h1>" in r.text
        # a message set by an action on one worker is shown by the other
        r = two.post("/console/user/alice/unlock", data={"csrf": csrf(r.text),
                                                         "confirmed": "yes"})
        assert "alice unlocked" in r.text
        # sign out on the first worker: the second refuses the session too
        move_cookies(two, one)
        cookie = one.cookies.get("dsc_console")
        assert cookie
        r = one.post("/console/logout", data={"csrf": csrf(r.text)})
        assert r.url.path == "/console/login"
        two.cookies.set("dsc_console", cookie, domain="testserver", path="/console")
        assert two.get("/console/search").url.path == "/console/login"
        assert env.reg.db.one("SELECT id FROM web_sessions WHERE sid_hash = ?",
                              (websessions.sid_hash(cookie),)) is None


def test_the_registry_holds_only_the_ids_hash_and_sealed_data(both: Env, clock: Clock) -> None:
    env = both
    # a name with a dash: it cannot turn up by chance in a hash or in base64 as "hd" would
    serial = make_operator(env, "hd-one", "helpdesk")
    one, _ = two_apps(env, clock)
    with one:
        html = sign_in(one, env, "hd-one", serial)
        cookie = one.cookies.get("dsc_console")
        assert cookie
        rows = env.reg.db.all("SELECT * FROM web_sessions")
        assert len(rows) == 1  # the sign-in's first session was dropped
        row = rows[0]
        assert row["sid_hash"] == websessions.sid_hash(cookie)
        text = repr([dict(r) for r in rows])
        assert cookie not in text and csrf(html) not in text and "hd-one" not in text
        assert integrity.ok(env.reg.sealer, "web_sessions", row)


def test_a_tampered_session_row_is_refused_and_logged(both: Env, clock: Clock) -> None:
    env = both
    serial = make_operator(env, "hd", "helpdesk")
    one, two = two_apps(env, clock)
    with one, two:
        sign_in(one, env, "hd", serial)
        # somebody with the database but not the key file lengthens the session
        env.reg.db.execute("UPDATE web_sessions SET idle_until = idle_until + 86400, "
                           "expires_at = expires_at + 86400")
        move_cookies(one, two)
        assert two.get("/console/search").url.path == "/console/login"
        refused = audit.entries(env.reg.db, action="integrity")
        assert refused and refused[-1].detail["table"] == "web_sessions"


def test_session_data_moved_to_another_row_does_not_open(env: Env, clock: Clock) -> None:
    """The sealed data is bound to its row's id hash: an admin's data copied into a helpdesk
    operator's row (MAC made good, as if by the key's holder) does not make them an admin."""
    boss, hd = make_operator(env, "boss", "admin"), make_operator(env, "hd", "helpdesk")
    one, two = two_apps(env, clock)
    with one, two:
        sign_in(one, env, "boss", boss)
        sign_in(two, env, "hd", hd)
        rows = env.reg.db.all("SELECT * FROM web_sessions ORDER BY id")
        boss_row, hd_row = rows[0], rows[1]
        env.reg.db.execute("UPDATE web_sessions SET data_enc = ? WHERE id = ?",
                           (boss_row["data_enc"], hd_row["id"]))
        moved = env.reg.db.one("SELECT * FROM web_sessions WHERE id = ?", (hd_row["id"],))
        assert moved is not None
        env.reg.db.execute("UPDATE web_sessions SET mac = ? WHERE id = ?",
                           (integrity.mac(env.reg.sealer, "web_sessions", moved), moved["id"]))
        assert two.get("/console/audit").url.path == "/console/login"
        assert audit.entries(env.reg.db, action="web-session.refused")


def test_idle_and_absolute_limits_come_from_the_registry(env: Env, clock: Clock) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    one, two = two_apps(env, clock)
    with one, two:
        sign_in(one, env, "hd", serial)
        move_cookies(one, two)
        # used every 14 minutes, alternately on each worker: the idle time is renewed...
        for n in range(42):
            clock.advance(14 * 60)
            client = (one, two)[n % 2]
            assert client.get("/console/search").url.path == "/console/search", n
        # ...until the session's 10 hours are up, however busy
        clock.advance(14 * 60)
        assert one.get("/console/search").url.path == "/console/login"
        # the expired row is gone; the redirect's sign-in page began a fresh one
        rows = env.reg.db.all("SELECT created_at FROM web_sessions")
        assert [r["created_at"] for r in rows] == [clock.t]


def test_the_security_card_pdf_is_served_once_by_any_worker(both: Env, clock: Clock) -> None:
    env = both
    serial = make_operator(env, "hd", "helpdesk")
    env.active("erin", "1234")
    one, two = two_apps(env, clock)
    with one, two:
        sign_in(one, env, "hd", serial)
        r = one.get("/console/user/erin")
        r = one.post("/console/user/erin/security-card", data={"csrf": csrf(r.text),
                                                               "confirmed": "yes"})
        link = re.search(r'action="(/console/download/[^"]+)"', r.text)
        assert link, r.text
        row = env.reg.db.one("SELECT * FROM web_once")
        assert row is not None and b"%PDF" not in bytes(row["body_enc"])  # sealed
        move_cookies(one, two)
        got = two.post(link.group(1), data={"csrf": csrf(r.text)})
        assert got.status_code == 200 and got.content[:5] == b"%PDF-"
        assert got.headers["cache-control"] == "no-store"
        assert env.reg.db.one("SELECT id FROM web_once") is None
        again = one.post(link.group(1), data={"csrf": csrf(r.text)})
        assert again.status_code == 403 and b"%PDF" not in again.content


def test_a_download_is_only_for_the_session_that_made_it(env: Env, clock: Clock) -> None:
    a, b = make_operator(env, "ann", "helpdesk"), make_operator(env, "bea", "helpdesk")
    env.active("erin", "1234")
    one, two = two_apps(env, clock)
    with one, two:
        sign_in(one, env, "ann", a)
        page_b = sign_in(two, env, "bea", b)
        r = one.get("/console/user/erin")
        r = one.post("/console/user/erin/security-card", data={"csrf": csrf(r.text),
                                                               "confirmed": "yes"})
        link = re.search(r'action="(/console/download/[^"]+)"', r.text)
        assert link
        stolen = two.post(link.group(1), data={"csrf": csrf(page_b)})
        assert stolen.status_code == 403
        assert one.post(link.group(1), data={"csrf": csrf(r.text)}).content[:5] == b"%PDF-"


def test_portal_session_across_workers(both: Env, clock: Clock) -> None:
    env = both
    serial = env.active("carol", "1234")
    one, two = two_apps(env, clock)
    with one, two:
        r = one.get("/portal")
        move_cookies(one, two)
        r = two.post("/portal/start", data={"csrf": csrf(r.text), "user": "carol"})
        move_cookies(two, one)
        r = one.post("/portal/challenge", data={"csrf": csrf(r.text), "device": serial})
        challenge = re.search(r'id="challenge">(\d+)<', r.text)
        assert challenge
        move_cookies(one, two)
        r = two.post("/portal/respond", data={
            "csrf": csrf(r.text), "response": env.answer(serial, challenge.group(1), "1234")})
        assert "Welcome, carol" in r.text
        move_cookies(two, one)
        assert "Welcome, carol" in one.get("/portal/home").text
        # a console cookie is not a portal session, even with the portal's cookie name
        portal_id = one.cookies.get("dsc_portal")
        assert portal_id
        assert env.reg.db.one("SELECT area FROM web_sessions WHERE sid_hash = ?",
                              (websessions.sid_hash(portal_id),))["area"] == "portal"
        two.cookies.clear()
        two.cookies.set("dsc_console", portal_id, domain="testserver", path="/console")
        assert two.get("/console/search").url.path == "/console/login"


def test_sessions_survive_a_key_rotation(env: Env, clock: Clock) -> None:
    """The sealed data is re-sealed and the row re-MACed under the new key (`SEALED`,
    `integrity.TABLES`), so a rotation signs nobody out by itself."""
    serial = make_operator(env, "hd", "helpdesk")
    one, _ = two_apps(env, clock)
    with one:
        sign_in(one, env, "hd", serial)
        cookie = one.cookies.get("dsc_console")
        assert cookie
        before = env.reg.db.one("SELECT data_enc FROM web_sessions")
        env.reg.rotate_key()
        assert env.reg.verify_rows() > 0
        after = env.reg.db.one("SELECT data_enc FROM web_sessions")
        assert before is not None and after is not None and before[0] != after[0]
        found = websessions.load(env.reg, "console", cookie, idle=900)
        assert found is not None and found.data["data"]["operator"] == "hd"


def test_migration_brings_the_session_tables_to_an_older_registry(env: Env) -> None:
    serial = make_operator(env, "hd", "helpdesk")
    env.reg.close()
    with sqlite3.connect(env.url) as conn:
        conn.execute("DROP TABLE web_sessions")
        conn.execute("DROP TABLE web_once")
        conn.execute("ALTER TABLE api_challenges DROP COLUMN mac")  # and the ones after
        conn.execute("ALTER TABLE users DROP COLUMN ip_restricted")
        conn.execute("ALTER TABLE softcard_activations DROP COLUMN mac")
        conn.execute("DROP TABLE sign_in_throttle")
        again = downgrade.forget_since(conn, schema._V_SESSIONS)
    reg, _, applied = Registry.init(env.url, env.key_file, clock=env.clock)
    env.reg = reg
    assert applied == again
    assert schema.current_version(reg.db) == schema.VERSION
    assert reg.db.all("SELECT * FROM web_sessions") == []
    assert operators.active(reg, "hd") is not None
    app = create_app(Settings(env.url, env.key_file, clock=env.clock))
    with TestClient(app, base_url="https://testserver") as web:
        sign_in(web, env, "hd", serial)
    assert len(reg.db.all("SELECT id FROM web_sessions")) == 1


def test_dsc_serve_with_two_workers_needs_no_sticky_sessions(pg_url: str,
                                                             tmp_path: Path) -> None:
    """`dsc serve --workers 2` on PostgreSQL: a sign-in and 40 pages, each on a new connection
    (the kernel hands them to either worker). The cookie is sent by hand: it is `Secure`, and
    this server speaks plain HTTP on loopback."""
    import httpx
    from serverkit import Server

    key = tmp_path / "master.key"
    reg, _, _ = Registry.init(pg_url, key, operator="tester")
    with reg:
        env = Env(reg, Clock(), pg_url, key)
        serial = make_operator(env, "hd", "helpdesk")
    server = Server(pg_url, key, workers=2)
    try:
        def get(path: str, cookie: str) -> httpx.Response:
            with httpx.Client(base_url=server.url, timeout=10) as http:  # a new connection
                return http.get(path, headers={"cookie": f"dsc_console={cookie}"})

        def post(path: str, cookie: str, data: dict[str, str]) -> httpx.Response:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                return http.post(path, data=data, headers={"cookie": f"dsc_console={cookie}"})

        first = httpx.get(server.url + "/console/login", timeout=10)
        cookie = first.cookies["dsc_console"]
        page = post("/console/login", cookie, {"csrf": csrf(first.text), "name": "hd",
                                               "password": PASSWORD})
        challenge = re.search(r'id="challenge">(\d+)<', page.text)
        assert challenge, page.text
        with reg.__class__.open(pg_url, key, operator="tester") as check:
            env.reg = check
            response = env.answer(serial, challenge.group(1), "4321")
        done = post("/console/login/card", cookie, {"csrf": csrf(page.text),
                                                    "response": response})
        assert done.status_code == 303 and done.headers["location"] == "/console/search"
        cookie = done.cookies["dsc_console"]
        pages = [get("/console/search", cookie) for _ in range(40)]
        assert [p.status_code for p in pages] == [200] * 40
        assert all("<h1>Search</h1>" in p.text for p in pages)
        assert len(server.workers()) == 2
    finally:
        server.stop()
