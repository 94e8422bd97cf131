"""The playground page at `/`, used as a person would: in a real headless Chromium (Debian's, driven by
Playwright) against `seqlab serve` over the tiny pipeline's bundles."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = pytest.mark.e2e

# Without the background-networking flags Chromium keeps dialling Google's hosts, which a closed network refuses.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "the playground test drives Debian's Chromium: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    page = browser.new_page()
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    page.goto(server + "/")
    expect(page.locator("#task-g2p")).to_be_visible()
    yield page
    page.close()
    assert not failures, f"the page's scripts failed: {failures}"


def test_the_page_lists_every_served_model(page: Page, server: str) -> None:
    # Guards: a task the server serves but the page leaves out, or a page that never loads the list.
    served = {model["task"] for model in httpx.get(f"{server}/v1/models").json()["models"]}
    shown = {section.get_attribute("id").removeprefix("task-") for section in page.locator("main > section").all()}
    assert shown == served
    expect(page.locator("#task-lm button")).to_have_text("Generate")
    expect(page.locator("#task-sentiment button")).to_have_text("Run")


def test_g2p_shows_its_attention_heatmap(page: Page, server: str) -> None:
    # Guards: a heatmap missing, of the wrong shape, or not drawn from the weights the API returns.
    section = page.locator("#task-g2p")
    section.locator("textarea").fill("seqlab")
    section.locator("button").click()
    heatmap = section.locator("table.heatmap")
    expect(heatmap).to_be_visible()
    answer = httpx.post(f"{server}/v1/g2p/predict", json={"inputs": ["seqlab"], "beam": 3, "attention": True})
    attention = answer.json()["results"][0]["attention"]
    columns = [cell.inner_text() for cell in heatmap.locator("tr").first.locator("th").all()][1:]
    assert columns == attention["source"]
    rows = heatmap.locator("tr").all()[1:]
    assert [row.locator("th").inner_text() for row in rows] == attention["output"]
    shown = [[float(cell.get_attribute("data-weight")) for cell in row.locator("td").all()] for row in rows]
    assert shown == attention["weights"]
    expect(section.locator(".candidate")).to_have_count(3)


def test_sentiment_answer_matches_the_api(page: Page, server: str) -> None:
    # Guards: the page showing a label other than the one the endpoint gives for the same text.
    section = page.locator("#task-sentiment")
    section.locator("textarea").fill("这本书写得很好")
    section.locator("button").click()
    expect(section.locator(".prediction")).to_have_count(1)
    answer = httpx.post(f"{server}/v1/sentiment/predict", json={"inputs": ["这本书写得很好"]}).json()
    label = answer["results"][0]["label"]
    expect(section.locator(".prediction strong")).to_have_text(label)


def test_generation_streams_into_the_page_and_a_seed_repeats_it(page: Page, server: str) -> None:
    # Guards: a page that never shows the streamed text, or sends other sampling options than it shows.
    section = page.locator("#task-lm")
    section.locator("textarea").fill("Romeo.\n")
    section.locator("input[name=max_length]").fill("80")
    section.locator("input[name=seed]").fill("3")
    section.locator("button").click()
    output = section.locator(".generated[data-done=true]")
    expect(output).to_have_count(1)
    body = {"prompt": "Romeo.\n", "max_length": 80, "temperature": 0.8, "top_k": 0, "top_p": 1, "seed": 3}
    expected = httpx.post(f"{server}/v1/lm/generate", json=body).text
    assert output.text_content() == "Romeo.\n" + expected


def test_a_refused_request_shows_the_servers_reason(page: Page) -> None:
    # Guards: a 4xx swallowed by the page, leaving the user with nothing to change.
    section = page.locator("#task-lm")
    section.locator("input[name=temperature]").fill("50")
    section.locator("button").click()
    expect(section.locator(".error")).to_contain_text("temperature: Input should be less than or equal to 10")
