"""
Lesson 04's screenshots of the class labeling page, on a checkpoint's answers:

    python lessons/shoot_label_page.py out/sft.pt    # -> lessons/img/label_page.png, label_matrix.png

No one in them is a person: five classmates are the panel's profiles (nanorlhf/tinychat/panel.py)
sent through the page's API, and Ada is the guidelines' labeler typing into the page in headless
Chromium (needs chromium, chromium-driver and selenium, as tests/test_label_browser.py does).
"""
import json
import shutil
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.keys import Keys

from nanorlhf.checkpoint import load_checkpoint
from nanorlhf.data import load_jsonl
from nanorlhf.label_server import make_server
from nanorlhf.tinychat.panel import GUIDELINES, PANEL, rank_as

CLASSMATES = {"Ben": GUIDELINES, "Chloe": PANEL["stickler"], "Dev": PANEL["thorough"], "Emma": PANEL["relaxed"],
              "Femi": PANEL["hasty"]}


def typed(ranking):
    """[2, 0, 1] (indices, best first) -> "3 1 2", as a person types it."""
    return " ".join(str(i + 1) for i in ranking)


def main(checkpoint):
    model, tokenizer, _ = load_checkpoint(checkpoint)
    prompts = [r["prompt"] for r in load_jsonl("data/pref_prompts.jsonl")[:20]]
    server, labels = make_server(model, tokenizer, prompts, f"{tempfile.mkdtemp()}/class.jsonl", 4, 0, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    rng = np.random.default_rng(0)
    for name, profile in CLASSMATES.items():
        for item in labels.items[:int(rng.integers(9, 17))]:
            body = {"name": name, "index": item["index"],
                    "ranking": typed(rank_as(profile, item["prompt"], item["responses"], rng))}
            urllib.request.urlopen(urllib.request.Request(url + "/api/rank", json.dumps(body).encode(),
                                                          {"Content-Type": "application/json"}))
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=820,780"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    driver.get(url + "/")
    time.sleep(1)
    driver.switch_to.active_element.send_keys("Ada", Keys.ENTER)
    time.sleep(1)
    for item in labels.items[:4]:
        ranking = rank_as(GUIDELINES, item["prompt"], item["responses"], np.random.default_rng(item["index"]))
        driver.switch_to.active_element.send_keys(typed(ranking), Keys.ENTER)
        time.sleep(1.2)
    driver.save_screenshot("lessons/img/label_page.png")
    driver.set_window_size(1720, 900)
    driver.get(url + "/teacher")
    time.sleep(2)
    driver.execute_script("document.body.style.zoom = '0.8'")   # the whole matrix in one picture
    time.sleep(1)
    driver.save_screenshot("lessons/img/label_matrix.png")
    driver.quit()
    server.shutdown()
    print("saved lessons/img/label_page.png and label_matrix.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/sft.pt")
