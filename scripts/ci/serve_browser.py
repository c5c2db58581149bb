#!/usr/bin/env python3
"""The live page in a real browser: headless Chromium (Debian's chromium + chromium-driver,
driven by python3-selenium) against unmask-serve on loopback with the bundled denoiser.

1. Loads the page, starts a generation, and watches the masked count fall over several
   frames; reads the final text and checks it against the API's for the same seed.
2. Starts a long generation, presses Stop, and sees the job cancelled (the page shows the
   error event, /unmask/v1/status lists no job).
Saves a screenshot mid-generation (docs/images/live-page.png when --screenshot is given).
Usage: /usr/bin/python3 scripts/ci/serve_browser.py SERVE_BINARY [--screenshot PATH]
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def main():
    binary = sys.argv[1]
    shot = sys.argv[sys.argv.index("--screenshot") + 1] if "--screenshot" in sys.argv else None
    server = subprocess.Popen([binary, "--port", "0", "--model", os.path.join(ROOT, "models/denoiser")],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    line = server.stdout.readline()
    check("model loaded" in server.stdout.readline(), "the model loaded")  # it listens first
    url = line.strip().rsplit(" ", 1)[-1]
    check(url.startswith("http://127.0.0.1:"), f"server started at {url}")
    options = Options()
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,900"]:
        options.add_argument(a)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url + "/")
        check("live denoising" in driver.title, "the page loads")
        prompt = "It is a truth universally acknowledged,"
        driver.find_element(By.ID, "prompt").clear()
        driver.find_element(By.ID, "prompt").send_keys(prompt)
        for field, value in [("length", "100"), ("seed", "7")]:
            e = driver.find_element(By.ID, field)
            e.clear()
            e.send_keys(value)
        driver.find_element(By.ID, "start").click()
        seen = []
        shot_taken = False
        deadline = time.time() + 60
        while time.time() < deadline:
            m = driver.find_element(By.ID, "canvas").get_attribute("data-masked")
            if m is not None and (not seen or int(m) != seen[-1]):
                seen.append(int(m))
            if shot and not shot_taken and seen and 25 < seen[-1] < 75:
                driver.save_screenshot(shot)
                shot_taken = True
            if driver.find_element(By.ID, "final").get_attribute("data-done") == "1":
                # The done event drew the last canvas before it set data-done: read it once more.
                m = int(driver.find_element(By.ID, "canvas").get_attribute("data-masked"))
                if m != seen[-1]:
                    seen.append(m)
                break
            time.sleep(0.005)
        check(len(seen) >= 4 and seen == sorted(seen, reverse=True) and seen[-1] == 0,
              f"the masked count falls over several frames ({len(seen)} distinct counts seen: {seen[:6]}…)")
        final = driver.find_element(By.ID, "final").text
        api = post(url + "/unmask/v1/generate", {"prompt": prompt, "length": 100, "seed": 7, "stream": False})
        check(final.strip() == api["choices"][0]["full_text"].strip(), "the page's final text is the API's for the seed")
        # Stop: a long generation, cancelled from the page.
        e = driver.find_element(By.ID, "length")
        e.clear()
        e.send_keys("120")
        driver.find_element(By.ID, "sampler").clear()
        driver.find_element(By.ID, "sampler").send_keys("fhs:top_p=0.9")
        driver.find_element(By.ID, "start").click()
        WebDriverWait(driver, 30).until(lambda d: int(d.find_element(By.ID, "stats").get_attribute("data-masked") or 999) < 118)
        driver.find_element(By.ID, "stop").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "stats").get_attribute("data-cancelled") is not None)
        check(driver.find_element(By.ID, "stats").get_attribute("data-cancelled") == "deleted", "Stop cancels the job (the page shows it)")
        with urllib.request.urlopen(url + "/unmask/v1/status", timeout=10) as r:
            status = json.loads(r.read())
        check(status["running"] == 0 and status["queued"] == 0, "no job left running")
        if shot:
            check(os.path.exists(shot), f"screenshot saved to {shot}")
    finally:
        driver.quit()
        server.terminate()
        server.wait(10)
    print("all browser checks passed")


if __name__ == "__main__":
    main()
