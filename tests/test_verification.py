"""Sampled read-verification: what it catches, the sample it draws, the ledger it files."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

from archive import verification
from archive.copies import sync as copies
from archive.copies.sync import Throttle
from archive.domain.errors import InputError
from archive.domain.model import Description
from archive.worm.local import LocalWormStore, set_immutable
from scanners.media import read_media
from tests.support.archives import make_archive
from tests.support.builders import T0
from tests.support.corpus import make_mp4
from tests.support.language import chinese  # noqa: F401


def probe(f):
    return read_media(f).duration_s


def _desc(n: int, kind: str = "photo", **kw) -> Description:
    return Description(kind=kind, unit="market-001", device_id="D1", officers=["P1"],
                       recorded_start=T0 + timedelta(minutes=n),
                       recorded_end=T0 + timedelta(minutes=n, seconds=2), party="王五",
                       cause="无照经营", **kw)


@pytest.fixture
def setup(tmp_path, catalog, store):
    s = make_archive(tmp_path, catalog, store)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    s.items = [s.archive.archive_stream([os.urandom(3000)], _desc(n), s.actor, until).item
               for n in range(12)]
    video = tmp_path / "v.mp4"
    make_mp4(video, 2)
    item = s.archive.archive_stream([video.read_bytes()], _desc(99, "video"), s.actor, until,
                                    legal_hold=True, checks={"format": {"duration_s": 2.0}}
                                    ).item
    s.items.append(item)
    return s


def test_sound_items_pass(setup):
    for item in setup.items:
        res = verification.verify_item(setup.archive, item, probe)
        assert res["ok"], res["problems"]
        assert res["read"]["sha256"] == item.sha256


def test_sample_is_drawn_by_the_table_and_reproducible(setup):
    lot = [i.id for i in setup.items]  # 13 items: level II code letter B, 3 items
    a = verification.inspect_lot(setup.archive, setup.actor, lot, {"query": "all"}, seed=7,
                                 media_probe=probe)
    b = verification.inspect_lot(setup.archive, setup.actor, lot, {"query": "all"}, seed=7)
    assert a["plan"]["code_letter"] == "B" and a["plan"]["sample_size"] == 3
    assert a["items"] == b["items"] and a["seed"] == 7
    c = verification.inspect_lot(setup.archive, setup.actor, lot, {"q": 1}, level="III",
                                 seed=7)
    assert c["plan"]["code_letter"] == "C" and len(c["items"]) == 5
    full = verification.inspect_lot(setup.archive, setup.actor, lot, {"q": 1},
                                    everything=True)
    assert sorted(full["items"]) == sorted(lot) and full["summary"]["failed"] == []
    stored = [k for k, _, _ in setup.store.list_keys("inspections/")]
    assert f"inspections/{a['id']}.json" in stored
    doc = setup.catalog.get_record("inspections", a["id"])
    body = {k: v for k, v in doc.items() if k != "signature"}
    from archive.people import people_keyring

    assert people_keyring(setup.catalog).verify(body, doc["signer_key_id"], doc["signature"])
    assert [e.action for e in setup.catalog.ledger_entries()][-1] == "inspection"
    with pytest.raises(InputError):
        verification.inspect_lot(setup.archive, setup.actor, [], {})


def test_spot_check_is_filed(setup):
    rec = verification.spot_check(setup.archive, setup.actor, setup.items[0].id,
                                  "no-notice", "未告知当事人正在录像")
    assert rec["finding_zh"] == "未事先告知当事人"
    assert "回放检查" in verification.render_zh(rec)
    with pytest.raises(InputError):
        verification.spot_check(setup.archive, setup.actor, setup.items[0].id, "bad", "")


def _local(setup):
    if not isinstance(setup.store, LocalWormStore):
        pytest.skip("tampers with files behind the local store's back")
    return setup.store


def _version_file(store, key, vid):
    path = store._version_path(key, vid)
    set_immutable(path, False)
    path.chmod(0o644)
    return path


def test_every_kind_of_damage_is_named(setup):
    store = _local(setup)
    rotten, unsigned, short, unheld = setup.items[0], setup.items[1], setup.items[2], \
        setup.items[-1]
    obj = rotten.storage["object"]
    path = _version_file(store, obj["key"], obj["version_id"])
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    ref = unsigned.storage["manifests"][-1]
    mpath = _version_file(store, ref["key"], ref["version_id"])
    doc = json.loads(mpath.read_text())
    doc["manifest"]["description"]["party"] = "张三"
    mpath.write_text(json.dumps(doc, ensure_ascii=False))
    for item, field, value in ((short, "retain_until", "2026-12-01T00:00:00Z"),
                               (unheld, "legal_hold", False)):
        o = item.storage["object"]
        side = store._version_path(o["key"], o["version_id"])
        side = side.with_name(side.name + ".lock.json")
        lock = json.loads(side.read_text())
        lock[field] = value
        side.write_text(json.dumps(lock))
    codes = {i.id: [p["code"] for p in verification.verify_item(setup.archive, i, probe)
                    ["problems"]] for i in (rotten, unsigned, short, unheld)}
    assert codes[rotten.id] == ["digest-mismatch"]
    assert codes[unsigned.id] == ["signature-invalid"]
    assert codes[short.id] == ["lock-too-short"]
    assert codes[unheld.id] == ["legal-hold-missing"]
    record = verification.inspect_lot(setup.archive, setup.actor, [rotten.id], {"q": 1},
                                      everything=True)
    assert record["summary"]["failed"] == [rotten.id]
    assert setup.catalog.get_item(rotten.id).status == "attention"
    assert "处理" in verification.render_zh(record)


def test_changed_duration_is_caught(setup):
    video = setup.items[-1]
    video.checks["format"]["duration_s"] = 9.0
    res = verification.verify_item(setup.archive, video, probe)
    assert [p["code"] for p in res["problems"]] == ["duration-changed"]


def test_throttle_keeps_to_the_rate(monkeypatch):
    clock = [0.0]
    slept = []
    monkeypatch.setattr(copies.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(copies.time, "sleep", lambda s: slept.append(s))
    t = Throttle(10)  # 10 MB/s
    t(5_000_000)
    assert slept == [pytest.approx(0.5)]
    clock[0] = 2.0  # two seconds later, 5 more MB are within the rate
    t(5_000_000)
    assert len(slept) == 1
    Throttle(None)(10**12)  # no rate: never waits


def test_a_finding_reads_in_chinese_and_keeps_its_english(setup, chinese):
    import i18n

    zh = i18n.translations("zh_CN").gettext
    store = _local(setup)
    rotten = setup.items[0]
    obj = rotten.storage["object"]
    path = _version_file(store, obj["key"], obj["version_id"])
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    (found,) = verification.verify_item(setup.archive, rotten)["problems"]
    size = rotten.current.digests.size
    assert found["message"].startswith("read ") and f"({size} bytes), signed " in found["message"]
    template = "read {read}… ({read_size} bytes), signed {signed}… ({signed_size} bytes)"
    assert zh(template) != template
    assert found["text"].startswith(zh(template).split("{read}")[0])
    assert f"{size}" in found["text"] and "bytes" not in found["text"]
    record = verification.inspect_lot(setup.archive, setup.actor, [rotten.id], {"q": 1},
                                      everything=True)
    shown = verification.render_zh(record)
    action = verification.ACTIONS["digest-mismatch"]
    assert zh(action) != action and zh(action) in shown and found["text"] in shown
    assert "抽样方案 全检" in shown and "摘要值不符（digest-mismatch）：" in shown
    # the filed record keeps the English beside the text, as it was signed
    assert record["results"][0]["problems"][0]["message"] == found["message"]
    assert record["results"][0]["problems"][0]["action"] == action


def test_a_refusal_of_verification_reads_in_chinese(setup, chinese):
    import i18n

    with pytest.raises(InputError) as caught:
        verification.verify_item(setup.archive, setup.items[0], copy="replica")
    template = "no [replica] is configured: there is no second copy to verify"
    assert caught.value.message == template
    assert i18n.localize(caught.value) == i18n.translations("zh_CN").gettext(template) != template
    with pytest.raises(InputError) as caught:
        verification.spot_check(setup.archive, setup.actor, setup.items[0].id, "asleep", "")
    assert caught.value.message.startswith("finding 'asleep' is not one of late-start, ")
    assert i18n.localize(caught.value).startswith("检查问题 'asleep' ")
