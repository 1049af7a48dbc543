from fastapi.testclient import TestClient

from app.main import create_app


def test_health_reports_ok_and_version():
    with TestClient(create_app()) as client:
        response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"]


def test_index_serves_html():
    with TestClient(create_app()) as client:
        response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "RNN Gradient Lab" in response.text


def test_live_server_answers_health(live_server):
    import httpx

    assert httpx.get(f"{live_server.url}/api/health").json()["status"] == "ok"


def test_get_routes_answer_head_with_the_same_headers_and_no_body(live_server):
    """HEAD (uptime checks, link checkers) gets GET's status and headers without the body; not in the schema;
    the event stream refuses it (a HEAD would attach as a listener and keep a run alive)."""
    import httpx

    run = httpx.post(f"{live_server.url}/api/runs", json={"lanes": [{"steps": 2, "seq_len": 4}]}).json()
    for path in ["/", "/api/health", "/api/options", "/api/presets", "/openapi.json", "/docs",
                 f"/api/runs/{run['id']}", f"/api/runs/{run['id']}/export?format=csv", "/api/runs/nope",
                 "/static/js/app.js"]:
        got, head = httpx.get(live_server.url + path), httpx.head(live_server.url + path)
        assert head.status_code == got.status_code and head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        if "content-length" in got.headers and path != f"/api/runs/{run['id']}":  # (its status may move on)
            assert head.headers["content-length"] == got.headers["content-length"], path
    assert httpx.head(live_server.url + run["events_url"]).status_code == 405
    schema = httpx.get(f"{live_server.url}/openapi.json").json()
    assert not any("head" in operations for operations in schema["paths"].values())
