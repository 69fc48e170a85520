"""The throwaway PostgreSQL server of pg_server.py: it answers, its databases are separate, two
connections share committed rows, a failed start says why, and stop leaves nothing behind.
The PostgreSQL backend's tests rely on each of these, so a broken server shows up here first."""

import os
import stat
import subprocess

import pytest

from pg_server import PostgresServer, postgres_server, require_postgres  # noqa: F401

psycopg2 = pytest.importorskip("psycopg2") if os.environ.get("CVP_REQUIRE_POSTGRES") != "1" \
    else __import__("psycopg2")


def _scalar(url, sql):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]
    finally:
        conn.close()


def _alive(pid):
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_url_connects_and_answers(postgres_server):  # noqa: F811
    assert _scalar(postgres_server.url, "SELECT 1") == 1
    assert _scalar(postgres_server.url, "SELECT current_user") == "cvp"
    assert _scalar(postgres_server.url, "SELECT rolsuper FROM pg_roles "
                                        "WHERE rolname = current_user") is True


def test_listens_only_on_its_socket_without_fsync(postgres_server):  # noqa: F811
    assert _scalar(postgres_server.url, "SHOW listen_addresses") == ""
    assert _scalar(postgres_server.url, "SHOW fsync") == "off"
    assert stat.S_ISSOCK(os.stat(postgres_server.socket_path).st_mode)
    assert postgres_server.socket_path.endswith(f".s.PGSQL.{postgres_server.port}")


def test_create_database_gives_an_independent_database(postgres_server):  # noqa: F811
    one = postgres_server.create_database("pgserver_one")
    two = postgres_server.create_database("pgserver_two")
    assert one != two
    conn = psycopg2.connect(one)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE only_in_one (x integer)")
        cur.execute("INSERT INTO only_in_one VALUES (1)")
    conn.close()
    assert _scalar(one, "SELECT current_database()") == "pgserver_one"
    assert _scalar(one, "SELECT to_regclass('only_in_one') IS NOT NULL") is True
    assert _scalar(two, "SELECT current_database()") == "pgserver_two"
    assert _scalar(two, "SELECT to_regclass('only_in_one') IS NULL") is True
    with pytest.raises(RuntimeError, match="already exists"):
        postgres_server.create_database("pgserver_one")


def test_two_connections_see_each_others_committed_rows(postgres_server):  # noqa: F811
    url = postgres_server.create_database("pgserver_shared")
    a, b = psycopg2.connect(url), psycopg2.connect(url)
    try:
        with a, a.cursor() as cur:
            cur.execute("CREATE TABLE t (who text)")
        with a.cursor() as ca, b.cursor() as cb:
            ca.execute("INSERT INTO t VALUES ('a')")
            cb.execute("SELECT COUNT(*) FROM t")
            assert cb.fetchone()[0] == 0  # not yet committed
            b.rollback()
            a.commit()
            cb.execute("INSERT INTO t VALUES ('b')")
            b.commit()
            ca.execute("SELECT who FROM t ORDER BY who")
            assert [r[0] for r in ca.fetchall()] == ["a", "b"]
            a.rollback()
            cb.execute("SELECT who FROM t ORDER BY who")
            assert [r[0] for r in cb.fetchall()] == ["a", "b"]
    finally:
        a.close()
        b.close()


def test_stop_removes_the_socket_the_folder_and_the_processes(tmp_path):
    server = PostgresServer(tmp_path, bindir=require_postgres())
    with server:
        folder, socket_path, url = server.folder, server.socket_path, server.url
        pid = server._postmaster_pid()
        assert os.path.exists(socket_path) and _alive(pid)
        assert _scalar(url, "SELECT 1") == 1
    assert not os.path.exists(socket_path)
    assert not os.path.exists(folder)
    assert not _alive(pid)
    assert tmp_path.is_dir()  # the caller's folder is the caller's to remove
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(url, connect_timeout=2)
    server.stop()  # a second stop is harmless


def test_two_servers_run_side_by_side(postgres_server, tmp_path):  # noqa: F811
    with PostgresServer(tmp_path, bindir=require_postgres()) as other:
        assert other.port != postgres_server.port
        assert other.folder != postgres_server.folder
        assert _scalar(other.url, "SELECT 2") == 2
        assert _scalar(postgres_server.url, "SELECT 1") == 1


def test_a_failed_start_raises_with_the_server_log_and_cleans_up(tmp_path):
    server = PostgresServer(tmp_path, bindir=require_postgres())
    server.settings["shared_buffers"] = "not a size"
    with pytest.raises(RuntimeError) as raised:
        server.start()
    message = str(raised.value)
    assert "did not start" in message
    assert "server log, last lines:" in message and "shared_buffers" in message
    assert server.folder is None
    assert not any(p.name.startswith("cvp-pg-") for p in tmp_path.iterdir())


def test_as_root_the_server_runs_as_the_postgres_user(postgres_server):  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("only as root does the server run as another user")
    owner = os.stat(postgres_server.data_dir).st_uid
    out = subprocess.run(["ps", "-o", "user=", "-p", str(postgres_server._postmaster_pid())],
                         capture_output=True, text=True).stdout.strip()
    assert owner != 0 and out == "postgres"
