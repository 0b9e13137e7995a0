"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright against a
real ``overcast up`` (fake drivers), walking a user's whole day, with a screenshot per page
in ``test-output/screenshots/``."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
pytestmark = [pytest.mark.slow, pytest.mark.clients]


def _browser_missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return "Debian's chromium is not installed (scripts/install-host-deps.sh installs it)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install .[test])"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _browser_missing()
    if reason:
        if os.environ.get("OVERCAST_REQUIRE_FACILITIES"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def tiny_image(tmp_path: Path) -> Path:
    guest = Path(os.environ.get("OVERCAST_GUEST_DIR", "/var/lib/overcast/tinyguest")) / "tinyguest.qcow2"
    if guest.exists():
        return guest
    path = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(path), "32M"], check=True, capture_output=True)
    return path


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_for_url(page, pattern: str, timeout: float = 60000) -> None:
    """Like ``page.wait_for_url`` but a timeout reports the page's own error banner."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_url(pattern, timeout=timeout)
    except PlaywrightTimeout:
        banner = page.locator(".flash.err")
        text = banner.inner_text() if banner.count() else page.content()[:2000]
        shot(page, "failure")
        raise AssertionError(f"never reached {pattern}; page {page.url} says: {text}") from None


def wait_for(page, selector: str, timeout: float = 30000) -> None:
    """Like ``page.wait_for_selector`` but a timeout reports the page's own error banner."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(selector, timeout=timeout)
    except PlaywrightTimeout:
        banner = page.locator(".flash.err")
        text = banner.inner_text() if banner.count() else page.content()[:2000]
        shot(page, "failure")
        raise AssertionError(f"{selector} never appeared; page {page.url} says: {text}") from None


def log_in(page, url: str, user: str, password: str, project: str = "") -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.fill("input[name=project]", project)
    page.click("#login-form button[type=submit]")
    wait_for_url(page, f"{url}/overview")


def test_a_users_day_in_the_dashboard(browser, running_cloud, tiny_image: Path, tmp_path: Path) -> None:
    url = running_cloud.url
    running_cloud.openstack("flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", "m1.tiny", "-f", "json")
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))

    log_in(page, url, "admin", running_cloud.admin_password, "admin")
    assert page.inner_text("#whoami") == "admin"
    shot(page, "01-overview")

    # upload the tiny guest image, with progress
    page.goto(f"{url}/images")
    page.fill("#upload-form input[name=name]", "tinyguest")
    page.select_option("#upload-form select[name=disk_format]", "qcow2")
    page.set_input_files("#image-file", str(tiny_image))
    page.click("#upload-form button[type=submit]")
    wait_for_url(page, f"{url}/images/*")
    assert "active" in page.inner_text("table.card")
    shot(page, "02-image")

    # a network and subnet
    page.goto(f"{url}/networks")
    page.fill("#network-form input[name=name]", "web-net")
    page.fill("#network-form input[name=cidr]", "10.20.0.0/24")
    page.click("#network-form button[type=submit]")
    wait_for(page, "#networks tr[data-name='web-net']")
    assert "10.20.0.0/24" in page.inner_text("#networks")
    shot(page, "03-networks")

    # launch an instance (named as an XSS probe) and watch it turn ACTIVE
    probe = "<script>alert('xss')</script>"
    page.goto(f"{url}/instances")
    page.fill("#launch-form input[name=name]", probe)
    page.select_option("#launch-form select[name=network]", label="web-net")
    page.click("#launch-form button[type=submit]")
    wait_for_url(page, f"{url}/instances/*")
    server_url = page.url.split("?")[0]
    page.goto(f"{url}/instances")
    wait_for(page, "#instance-rows td[data-status='ACTIVE']", timeout=60000)
    assert probe in page.inner_text("#instances")  # shown as text
    shot(page, "04-instances")

    page.goto(server_url)
    assert page.inner_text("#console-log").strip()
    shot(page, "05-instance-console")

    # create a volume and attach it
    page.goto(f"{url}/volumes")
    page.fill("#volume-form input[name=name]", "data1")
    page.click("#volume-form button[type=submit]")
    wait_for(page, "#volumes tr[data-name='data1']")
    for _ in range(30):
        if page.get_attribute("#volumes tr[data-name='data1'] td[data-status]", "data-status") == "available":
            break
        page.wait_for_timeout(500)
        page.reload()
    page.click("#volumes tr[data-name='data1'] button[data-action=attach]")
    for _ in range(30):
        page.goto(server_url)
        if "No volumes attached." not in page.inner_text("#attachments"):
            break
        page.wait_for_timeout(500)
    assert "No volumes attached." not in page.inner_text("#attachments")
    shot(page, "06-volume-attached")

    # upload and download an object
    payload = tmp_path / "hello.txt"
    payload.write_bytes(b"hello from the browser " + uuid.uuid4().hex.encode())
    page.goto(f"{url}/objects")
    page.fill("#container-form input[name=container]", "docs")
    page.click("#container-form button[type=submit]")
    page.click("#containers a:text('docs')")
    page.set_input_files("#object-upload input[type=file]", str(payload))
    page.click("#object-upload button[type=submit]")
    wait_for(page, "#objects tr[data-name='hello.txt']")
    with page.expect_download() as download:
        page.click("#objects a:text('hello.txt')")
    assert Path(download.value.path()).read_bytes() == payload.read_bytes()
    shot(page, "07-objects")

    # the topology picture
    page.goto(f"{url}/topology")
    assert page.locator("#topology g.network[data-name='web-net']").count() == 1
    assert page.locator("#topology g.server").count() == 1
    shot(page, "08-topology")

    page.goto(f"{url}/admin")
    assert "fake" in page.inner_text("#plugins")
    shot(page, "09-admin")

    page.click("#logout")
    wait_for_url(page, f"{url}/login*")
    shot(page, "10-logged-out")
    assert dialogs == [], f"the XSS probe ran: {dialogs}"

    # a user of another project sees none of it
    other = f"other-{uuid.uuid4().hex[:6]}"
    running_cloud.openstack("project", "create", other, "-f", "json")
    running_cloud.openstack("user", "create", "--password", "other-pass", "--project", other, other, "-f", "json")
    running_cloud.openstack("role", "add", "--project", other, "--user", other, "member")
    log_in(page, url, other, "other-pass", other)
    for path, absent in (("/instances", "xss"), ("/volumes", "data1"), ("/objects", "docs"), ("/images", "tinyguest")):
        page.goto(url + path)
        assert absent not in page.content(), path
    shot(page, "11-other-project")
    context.close()
