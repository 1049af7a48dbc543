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
