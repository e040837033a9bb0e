"""`facedge camera --serve` on a network address, as a user runs it: the real CLI
(stand-in detector) serving a video file on 127.0.0.2, which is not the default
loopback address and so is treated like a network. Checked over real HTTP: the
token on every route, the cookie in a headless browser, --no-auth, the limit on
stream clients, and a file played in real time and looping.

The counter video is 160x120 at 10 fps: each frame costs the pipeline about a
millisecond, so a loaded machine cannot make the paced file fall behind its 100 ms
per frame; frame rates are measured over the frame numbers the pictures carry."""

import re
import shutil
import subprocess
import time

import cv2
import numpy as np
import pytest

from camera_fakes import make_counter_video, read_counter
from camera_http import ServedCamera, camera_env

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FILE_FPS = 10.0
FILE_FRAMES = 20  # 2 seconds


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_counter_video(tmp_path_factory.mktemp("network") / "counter.avi", FILE_FRAMES, FILE_FPS)


@pytest.fixture(scope="module")
def served(clip, tmp_path_factory):
    """The file, served on 127.0.0.2 with a token made for the run, in real time, looping."""
    camera = ServedCamera(["--source", clip, "--serve", "127.0.0.2:0", "--realtime", "--loop"],
                          cwd=tmp_path_factory.mktemp("served"))
    yield camera
    assert camera.stop() == 0, "".join(camera.stderr)
    # The token is printed once, in the ready URL, and nowhere else.
    assert sum(line.count(camera.token) for line in camera.stderr) == 1, camera.stderr


ROUTES = ["/", "/stream.mjpg", "/stats.json", "/no-such-page"]


def test_a_token_made_for_the_run_is_printed_as_a_ready_url(served):
    assert served.host == "127.0.0.2" and served.url == f"http://127.0.0.2:{served.port}/"
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", served.token)
    line = next(line for line in served.stderr if "serving on" in line)
    assert line.strip() == f"facedge camera: serving on {served.url}; open {served.url}?token={served.token}"


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_refuses_without_the_token_and_says_nothing_more(served, path):
    wrong = "x" * len(served.token)
    for query, headers in [("", {}), (f"?token={wrong}", {}), ("?token=", {}),
                           ("", {"Cookie": f"facedge_token_{served.port}={wrong}"}),
                           ("", {"Authorization": f"Bearer {wrong}"}),
                           ("", {"Cookie": f"facedge_token_{served.port + 1}={served.token}"})]:  # another port's
        status, headers_back, body = served.get(path + query, headers)
        assert (status, body) == (403, b"forbidden\n"), (path, query, headers)
        assert "token" not in str(headers_back).lower() and "www-authenticate" not in str(headers_back).lower()


def test_the_token_opens_every_route(served):
    token = served.token
    # The printed URL: the token goes into a cookie and out of the address bar.
    status, headers, body = served.get(f"/?token={token}")
    assert status == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"]
    assert cookie == f"facedge_token_{served.port}={token}; Path=/; HttpOnly; SameSite=Lax"
    with_cookie = {"Cookie": cookie.split(";")[0]}
    status, headers, body = served.get("/", with_cookie)
    assert status == 200 and b'<img id="stream" src="/stream.mjpg"' in body
    # The page's own requests carry the cookie; tools pass ?token= or a bearer header.
    for headers in (with_cookie, {"Authorization": f"Bearer {token}"}):
        status, _, body = served.get("/stats.json", headers)
        assert status == 200 and b'"source": "file (realtime)"' in body
    status, _, _ = served.get("/no-such-page", with_cookie)
    assert status == 404
    for path, headers in ((f"/stream.mjpg?token={token}", {}), ("/stream.mjpg", with_cookie)):
        stream = served.stream(path, headers)
        try:
            assert stream.status == 200
            t, image = stream.next_image()
            assert image.shape == (120, 160, 3) and 0 <= read_counter(image) < FILE_FRAMES
        finally:
            stream.close()


def test_the_fifth_stream_client_gets_503_at_once(served):
    cookie = {"Authorization": f"Bearer {served.token}"}
    served.wait_for_viewers(0)  # the streams of the tests before have gone
    streams = [served.stream(headers=cookie) for _ in range(4)]
    try:
        for stream in streams:
            assert stream.status == 200
            stream.next_part()  # all four are being served
        t0 = time.monotonic()
        status, headers, body = served.get("/stream.mjpg", cookie)
        assert status == 503 and headers["Retry-After"] == "10" and body == b"4 viewers already; try again later\n"
        assert time.monotonic() - t0 < 2.0  # refused, not queued behind the others
        assert served.stats()["viewers"] == 4
        streams.pop().close()
        served.wait_for_viewers(3, timeout=2.0)  # a viewer that leaves frees its place within a second
        streams.append(served.stream(headers=cookie))
        assert streams[-1].status == 200
        streams[-1].next_part()
    finally:
        for stream in streams:
            stream.close()


def test_a_10_fps_file_in_realtime_streams_10_fps_and_loops_for_10_s(served):
    served.wait_for_viewers(0)
    stream = served.stream(headers={"Authorization": f"Bearer {served.token}"})
    assert stream.status == 200
    try:
        t_start = time.monotonic()
        parts = []
        while time.monotonic() - t_start < 10.5:
            t, image = stream.next_image()
            parts.append((t, read_counter(image)))
    finally:
        stream.close()
    assert served.proc.poll() is None  # the 2-second file still runs
    parts = parts[2:]  # the first pictures come with the connection's own delays
    times = np.array([t for t, _ in parts])
    counters = np.array([c for _, c in parts])
    steps = np.diff(counters) % FILE_FRAMES  # frames of the file between two pictures, across the loop's wrap
    span = times[-1] - times[0]
    assert span >= 9.5
    # The file's frames go by at its own rate, measured over its frame numbers.
    file_fps = steps.sum() / span
    assert abs(file_fps - FILE_FPS) <= 0.5, file_fps
    # ... and reach the stream: in order, no frame twice, few skipped.
    assert (steps >= 1).all(), counters
    assert len(parts) - 1 >= 0.9 * steps.sum(), (len(parts), steps.sum())
    assert abs((len(parts) - 1) / span - FILE_FPS) <= 1.0
    wraps = int((np.diff(counters) < 0).sum())
    assert wraps >= 4, counters  # 10 s of a 2 s file


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_the_cookie_carries_the_token_in_a_headless_browser(served, tmp_path):
    def chromium(*args):
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", *args,
                   f"{served.url}?token={served.token}"]
        return subprocess.run(command, capture_output=True, text=True, timeout=90, cwd=tmp_path)

    # The page's numbers come from /stats.json, which answers only with the cookie.
    dom = chromium("--dump-dom").stdout
    assert re.search(r'<body data-updates="[1-9]\d*"', dom), dom[:3000]
    assert '<span id="state">live</span>' in dom
    assert '<span id="source">source: file (realtime)</span>' in dom
    assert '<span id="encoder">JPEG encoder: OpenCV cv2.imencode (CPU)</span>' in dom
    assert int(re.search(r'<b id="frames">(\d+)</b>', dom).group(1)) > 0
    # The stream too: the counter's blocks show on the page.
    shot = tmp_path / "page.png"
    chromium("--window-size=400,300", f"--screenshot={shot}")
    image = cv2.imread(str(shot))
    assert image is not None, "chromium wrote no screenshot"
    gray = image.mean(axis=2)
    assert (np.abs(gray - 40) <= 8).sum() > 10_000  # the 160x120 picture's background
    assert (np.abs(gray - 170) <= 12).sum() > 300  # and its lit blocks


def test_no_auth_serves_everyone_and_says_so_at_every_start(clip, tmp_path):
    for _ in range(2):
        camera = ServedCamera(["--source", clip, "--serve", "127.0.0.2:0", "--no-auth", "--no-realtime", "--loop"],
                              cwd=tmp_path)
        try:
            assert camera.token is None
            assert any(f"serving on {camera.url} WITHOUT a token (--no-auth): anyone who can reach this address "
                       "sees the camera" in line for line in camera.stderr), camera.stderr
            status, _, body = camera.get("/")
            assert status == 200
            stream = camera.stream()
            assert stream.status == 200
            stream.next_part()
            stream.close()
            status, _, first = camera.get("/stats.json")
            assert status == 200 and b'"source": "file (as fast as possible)"' in first
        finally:
            assert camera.stop() == 0


def test_a_token_from_the_environment_is_asked_for_and_not_printed(clip, tmp_path):
    token = "a-token-from-the-env-0123456789"
    camera = ServedCamera(["--source", clip, "--serve", "127.0.0.2:0", "--loop"], cwd=tmp_path,
                          env=camera_env(FACEDGE_CAMERA_TOKEN=token))
    try:
        assert camera.token is None  # not in the printed URL
        assert camera.get("/stats.json")[0] == 403
        assert camera.get(f"/stats.json?token={token}")[0] == 200
    finally:
        assert camera.stop() == 0
    assert not any(token in line for line in camera.stderr)
    assert any("?token=<the token from FACEDGE_CAMERA_TOKEN>" in line for line in camera.stderr)


# --- bad input and notes, through the CLI in this process (stand-in detector) -------------------

def _camera(args, capsys):
    import camera_fakes

    code = camera_fakes.main(["--", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, message", [
    (["--token", ""], "--token: 0 characters; a token needs at least 16"),
    (["--token", "0123456789abcde"], "--token: 15 characters; a token needs at least 16"),
    (["--max-clients", "0"], "--max-clients 0: expected at least 1 (stream viewers at once)"),
    (["--no-auth", "--token", "0123456789abcdefg"], "--no-auth and --token: choose one"),
], ids=["empty-token", "short-token", "max-clients-0", "no-auth-and-token"])
def test_bad_serve_options_are_one_line_errors_before_anything_opens(clip, capsys, monkeypatch, args, message):
    monkeypatch.delenv("FACEDGE_CAMERA_TOKEN", raising=False)
    code, out, err = _camera(["--source", clip, "--serve", "127.0.0.2:0", *args], capsys)
    assert code == 1
    assert err.startswith(f"facedge camera: error: {message}") and err.count("\n") == 1, err
    assert "serving on" not in err and out == ""


def test_a_short_token_in_the_environment_is_refused(clip, capsys, monkeypatch):
    monkeypatch.setenv("FACEDGE_CAMERA_TOKEN", "tooshort")
    code, _, err = _camera(["--source", clip, "--serve", "127.0.0.2:0"], capsys)
    assert code == 1 and err.startswith("facedge camera: error: FACEDGE_CAMERA_TOKEN: 8 characters; a token needs "
                                        "at least 16") and err.count("\n") == 1


@pytest.mark.parametrize("flag", ["--token", "--no-auth", "--max-clients"])
def test_serve_options_without_serve_are_refused(clip, capsys, flag):
    value = {"--token": ["0123456789abcdefg"], "--max-clients": ["2"]}.get(flag, [])
    code, _, err = _camera(["--source", clip, flag, *value, "--max-frames", "1"], capsys)
    assert code == 1 and err == f"facedge camera: error: {flag}: only with --serve\n"


def test_json_runs_get_every_frame_fast_unless_asked_for_realtime(clip, capsys):
    code, out, err = _camera(["--source", clip, "--json", "--max-frames", "3"], capsys)
    assert code == 0 and f"facedge camera: {clip}: file (as fast as possible), detector input" in err
    assert [json_line["frame"] for json_line in map(__import__("json").loads, out.splitlines())] == [0, 1, 2]
    code, out, err = _camera(["--source", clip, "--json", "--realtime", "--loop", "--max-frames", "2"], capsys)
    assert code == 0 and f"facedge camera: {clip}: file (realtime) at 10 fps, looping, detector input" in err


def test_realtime_and_loop_with_a_camera_are_ignored_with_a_note(capsys, monkeypatch):
    import sys

    import fake_picamera2

    fake_picamera2.world.reset()
    fake_picamera2.install(lambda name, module: monkeypatch.setitem(sys.modules, name, module))
    code, _, err = _camera(["--source", "picamera2", "--realtime", "--loop", "--max-frames", "3"], capsys)
    assert code == 0, err
    assert "facedge camera: --realtime: picamera2 camera 0 is live, its frames come at its own pace; ignored\n" in err
    assert "facedge camera: --loop: picamera2 camera 0 is live; ignored\n" in err
    assert "picamera2 camera 0: live camera, detector input 320x240" in err
