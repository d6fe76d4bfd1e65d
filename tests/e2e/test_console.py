"""The web console at /console/ in headless Chromium (Debian's chromium and chromium-driver, driven by Selenium): it
loads without console errors, draws DetectFaces' boxes on a dropped photo where the API says (checked on the screenshot's pixels),
compares faces, creates a collection, indexes a face and finds it by search, makes a user of it and finds it,
runs a video job and draws its timeline, trains, starts and asks a Custom Labels model, and shows
InvalidSignatureException for a wrong secret; no page is wider than a phone's screen. With
REKO_CONSOLE_SCREENSHOTS=DIR (scripts/console-screenshots) it saves each page there."""
import base64
import io
import json
import os
import pathlib
import shutil
import signal

import pytest

from conftest import ALICE, ROOT, Server

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
FACES = ROOT.parent / "shared" / "eval" / "deepface_unit"
WALKING = ROOT.parent / "shared" / "eval" / "video_clips" / "intel_sample_videos" / "gif_as_mp4" / "face-demographics-walking.mp4"
HYMENOPTERA = ROOT.parent / "shared" / "eval" / "custom_labels_hymenoptera"
SCREENSHOTS = os.environ.get("REKO_CONSOLE_SCREENSHOTS")
FACE_COLOUR = (0x00, 0xE0, 0x5A)  # draw.js COLOURS.FACE

pytestmark = [
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium and chromium-driver are not installed"),
    pytest.mark.skipif(not FACES.exists(), reason="../shared/eval is not here"),
]


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as ChromeService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1100",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=ChromeService(executable_path=DRIVER), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))


def find(driver, css):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.CSS_SELECTOR, css)


def button(driver, text):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.XPATH, f"//button[normalize-space()='{text}']")


def open_console(driver, server, page="try", key=ALICE):
    """Opens a page of the console and enters the keys (none in dev mode)."""
    driver.get(f"{server.endpoint}/console/#{page}")
    wait(driver, lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
    if key:
        driver.execute_script("document.querySelector('.keys').open = true")
        form = find(driver, "#credentials")
        for name, value in (("accessKeyId", key[0]), ("secretAccessKey", key[1]), ("region", "us-east-1")):
            field = form.find_element("name", name)
            field.clear()
            field.send_keys(value)
        button(driver, "Use these keys").click()
        driver.execute_script("document.querySelector('.keys').open = false")


def errors_logged(driver) -> list:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver, name):
    """Saves the page as SCREENSHOTS/name.png, in 256 colours (a third of the bytes, for the repository)."""
    if SCREENSHOTS:
        from PIL import Image
        pathlib.Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
        shot.quantize(colors=256).save(pathlib.Path(SCREENSHOTS) / f"{name}.png", optimize=True)


def near(pixel, colour, tolerance=60) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour))


def test_the_console_draws_detected_faces_where_the_api_says(server, browser):
    from PIL import Image
    open_console(browser, server)
    # Dropped onto the page, as a person drags a photo in.
    browser.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], 'couple.jpg', { type: 'image/jpeg' }));
        const zone = document.querySelector('#try-drop');
        for (const type of ['dragover', 'drop']) {
            zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""", base64.b64encode((FACES / "couple.jpg").read_bytes()).decode())
    wait(browser, lambda d: d.execute_script("return document.querySelector('#try-canvas').width > 0"))
    button(browser, "DetectFaces").click()
    wait(browser, lambda d: find(d, "#try-canvas").get_attribute("data-operation") == "DetectFaces"
         and find(d, "#try-json").get_attribute("textContent"))
    faces = json.loads(find(browser, "#try-json").get_attribute("textContent"))["FaceDetails"]
    assert len(faces) == 2
    assert "Face 1" in find(browser, "#try-results").text
    browser.execute_script("document.querySelector('#try-canvas').scrollIntoView()")
    left, top, width, height = browser.execute_script(
        "const r = document.querySelector('#try-canvas').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]")
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    for face in faces:
        box = face["BoundingBox"]
        x0, y0 = left + box["Left"] * width, top + box["Top"] * height
        x1, y1 = x0 + box["Width"] * width, y0 + box["Height"] * height
        # Points along the four edges, each looked for within 2 px (the stroke is 3 px wide).
        points = [(x0 + (x1 - x0) * t, y) for t in (0.25, 0.5, 0.75) for y in (y0, y1)]
        points += [(x, y0 + (y1 - y0) * t) for t in (0.3, 0.5, 0.7) for x in (x0, x1)]
        drawn = sum(any(near(shot.getpixel((round(x) + dx, round(y) + dy)), FACE_COLOUR)
                        for dx in range(-2, 3) for dy in range(-2, 3)) for x, y in points)
        assert drawn == len(points), f"{drawn} of {len(points)} edge points of {box} drawn"
        # The middle of the face is the photo, not the box.
        assert not near(shot.getpixel((round((x0 + x1) / 2), round((y0 + y1) / 2))), FACE_COLOUR, 20)
    snippets = find(browser, "#try-cli").get_attribute("textContent")
    assert snippets.startswith("aws rekognition detect-faces") and "--image-bytes fileb://couple.jpg" in snippets
    assert '"Attributes":["ALL"]' in snippets
    screenshot(browser, "try-detect-faces")

    button(browser, "DetectLabels").click()
    wait(browser, lambda d: find(d, "#try-canvas").get_attribute("data-operation") == "DetectLabels")
    assert "Person" in find(browser, "#try-results").text
    screenshot(browser, "try-detect-labels")

    browser.get(f"{server.endpoint}/console/#compare")
    find(browser, "#compare-source").send_keys(str(FACES / "img1.jpg"))
    find(browser, "#compare-target").send_keys(str(FACES / "img2.jpg"))
    button(browser, "CompareFaces").click()
    wait(browser, lambda d: "match" in find(d, "#compare-results").text)
    assert find(browser, "#compare-results").text.startswith("1 match(es)")
    screenshot(browser, "compare-faces")
    assert errors_logged(browser) == []


def test_a_collection_is_created_indexed_and_searched_through_the_console(server, browser):
    open_console(browser, server, page="collections")
    wait(browser, lambda d: "No collection yet." in find(d, "#collection-list").text)
    find(browser, "#create-id").send_keys("door")
    button(browser, "CreateCollection").click()
    wait(browser, lambda d: find(d, "#collection").is_displayed() and find(d, "#collection-title").text == "door")
    find(browser, "#index-file").send_keys(str(FACES / "img1.jpg"))
    find(browser, "#index-external").send_keys("alice")
    button(browser, "IndexFaces").click()
    wait(browser, lambda d: "alice" in find(d, "#face-rows").text)
    assert "1 face(s)" in find(browser, "#collection-facts").text
    find(browser, "#search-file").send_keys(str(FACES / "img2.jpg"))
    button(browser, "SearchFacesByImage").click()
    wait(browser, lambda d: d.find_elements("css selector", "#search-results .match"))
    assert find(browser, "#search-results .match").text.startswith("alice: similarity")
    screenshot(browser, "collections")
    # Users: one made, the face ticked in the table associated with it, found by a photo.
    find(browser, "#user-id").send_keys("alice-user")
    button(browser, "CreateUser").click()
    wait(browser, lambda d: "alice-user" in find(d, "#user-list").text)
    find(browser, ".face-pick").click()
    button(browser, "AssociateFaces").click()
    wait(browser, lambda d: "alice-user" in find(d, "#face-rows").text)
    find(browser, "#search-users-file").send_keys(str(FACES / "img4.jpg"))
    button(browser, "SearchUsersByImage").click()
    wait(browser, lambda d: d.find_elements("css selector", "#search-results .user-match"))
    assert find(browser, "#search-results .user-match").text.startswith("alice-user: similarity")
    # What the page did went through the API: boto3 sees it.
    faces = server.client().list_faces(CollectionId="door")["Faces"]
    assert [(f["ExternalImageId"], f["UserId"]) for f in faces] == [("alice", "alice-user")]
    assert errors_logged(browser) == []


def test_a_video_job_is_started_and_its_labels_shown_on_a_timeline(server, browser):
    (server.s3_root / "videos").mkdir(exist_ok=True)
    shutil.copy(WALKING, server.s3_root / "videos" / "walking.mp4")
    open_console(browser, server, page="video")
    from selenium.webdriver.support.ui import Select
    Select(find(browser, "#video-analysis")).select_by_value("LabelDetection")
    find(browser, "#video-bucket").send_keys("videos")
    find(browser, "#video-name").send_keys("walking.mp4")
    button(browser, "Start").click()
    wait(browser, lambda d: find(d, "#video-status").get_attribute("data-status") == "SUCCEEDED", timeout=180)
    assert "Person:" in find(browser, "#video-findings").text
    assert "LabelDetection" in find(browser, "#video-jobs").text
    marks = browser.execute_script("""
        const c = document.querySelector('#video-timeline');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === 0x3f && d[i + 1] === 0xa9 && d[i + 2] === 0xf5) n++;
        return n;""")
    assert marks > 50, f"{marks} timeline pixels drawn"
    screenshot(browser, "video")
    assert errors_logged(browser) == []


@pytest.mark.skipif(not HYMENOPTERA.exists(), reason="../shared/eval is not here")
def test_a_custom_labels_model_is_trained_started_and_asked_through_the_console(server, browser):
    from test_custom_labels import photos, put_manifest, stage
    ants, bees = photos("ants"), photos("bees")
    put_manifest(server, "train.manifest", stage(server, {"ants": ants[:25], "bees": bees[:25]}))
    open_console(browser, server, page="custom")
    wait(browser, lambda d: "No project yet." in find(d, "#project-list").text)
    find(browser, "#project-name").send_keys("insects")
    button(browser, "CreateProject").click()
    wait(browser, lambda d: find(d, "#project-title").text == "insects")
    find(browser, "#dataset-bucket").send_keys("cl-data")
    find(browser, "#dataset-manifest").send_keys("manifests/train.manifest")
    button(browser, "CreateDataset").click()
    # Read in one go: the page redraws its tables every 2 s while something is in progress.
    status = lambda d, css: d.execute_script(  # noqa: E731
        f"return [...document.querySelectorAll('{css} .status')].map((e) => e.textContent)")
    wait(browser, lambda d: status(d, '#dataset-rows tr[data-type="TRAIN"]') == ["CREATE_COMPLETE"], timeout=120)
    assert "50 entries, 50 labeled, 2 labels" in find(browser, "#dataset-rows").text
    find(browser, "#train-version").send_keys("v1")
    find(browser, "#train-bucket").send_keys("cl-data")
    button(browser, "CreateProjectVersion").click()
    wait(browser, lambda d: status(d, '#version-rows tr[data-version="v1"]') == ["TRAINING_COMPLETED"], timeout=180)
    start = find(browser, '#version-rows tr[data-version="v1"] button')
    assert start.text == "Start"
    start.click()
    wait(browser, lambda d: status(d, '#version-rows tr[data-version="v1"]') == ["RUNNING"])
    find(browser, "#detect-file").send_keys(str(bees[70]))
    button(browser, "DetectCustomLabels").click()
    wait(browser, lambda d: d.find_elements("css selector", "#detect-results .custom-label"))
    assert find(browser, "#detect-results .custom-label").text.startswith("bees: ")
    screenshot(browser, "custom-labels")
    assert errors_logged(browser) == []


def test_a_wrong_secret_shows_the_signature_error(server, browser):
    open_console(browser, server, page="collections", key=(ALICE[0], "not-the-secret", ALICE[2]))
    wait(browser, lambda d: find(d, "#error").is_displayed())
    assert find(browser, "#error").text.startswith("InvalidSignatureException: ")


def test_dev_mode_needs_no_keys(workdir, browser):
    dev = Server(workdir / "dev", None).start()
    try:
        open_console(browser, dev, page="collections", key=None)
        wait(browser, lambda d: "No collection yet." in find(d, "#collection-list").text)
        assert "dev mode" in find(browser, "#mode").get_attribute("textContent")
        assert not find(browser, "#error").is_displayed()
        # Readable on a phone: no page is wider than its screen.
        browser.set_window_size(390, 844)
        for page in ("try", "compare", "collections", "video", "custom"):
            browser.get(f"{dev.endpoint}/console/#{page}")
            wait(browser, lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
            width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], f"#{page} is {width[0]} px wide on a {width[1]} px screen"
    finally:
        dev.stop(signal.SIGKILL)
